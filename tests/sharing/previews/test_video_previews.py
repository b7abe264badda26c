"""Patient MP4s from video transfer syntaxes: a remux when the stream plays as it is, else encoded.

H.264 in 4:2:0 8-bit with timestamps is copied into the MP4 packet by packet (its decoded frames
are bit-identical to the source's); MPEG-2, HEVC and elementary streams are decoded and encoded by
x264. Every MP4 must have every frame at the DICOM rate, faststart, yuv420p, and no identifier.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from pydicom import uid

from anonymizer import anonymize_file, basic_profile, strict_profile
from sharing.previews import render_instance
from sharing.previews.frames import open_frame_source
from tests.video_samples import BANNER_ROWS, MARKER, VideoRecipe, write_video

from .preview_samples import read_clip, top_level_boxes

CASES = {
    "h264-ts": (VideoRecipe(str(uid.MPEG4HP41), "libx264", "mpegts"), True),
    "h264-mp4-fragmentable": (VideoRecipe(str(uid.MPEG4HP41F), "libx264", "mp4", fragments=3), True),
    "h264-elementary": (VideoRecipe(str(uid.MPEG4HP422D), "libx264", "h264"), False),
    "hevc-ts": (VideoRecipe(str(uid.HEVCMP51), "libx265", "mpegts", fps=Fraction(30)), False),
    "hevc-main10-ts": (VideoRecipe(str(uid.HEVCM10P51), "libx265", "mpegts", pixel_format="yuv420p10le"), False),
    "mpeg2-ps": (VideoRecipe(str(uid.MPEG2MPML), "mpeg2video", "vob"), False),
}
KEY = b"video-preview-key"


def decoded_grey(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="gray") for f in container.decode(video=0)]


def source_grey(path: Path) -> list[np.ndarray]:
    from anonymizer.io import read_instance
    from anonymizer.video import VideoBitstream

    with VideoBitstream.from_element(read_instance(path).pixels) as stream, av.open(stream) as container:
        return [f.to_ndarray(format="gray") for f in container.decode(video=0)]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    folder = tmp_path_factory.mktemp("video-previews")
    results = {}
    for name, (recipe, _) in CASES.items():
        source = write_video(folder / f"{name}.dcm", recipe)
        results[name] = (source, render_instance(source, folder / "out", stem=f"clip-{name}"))
    return results


@pytest.mark.parametrize("name", CASES)
def test_video_clip_plays_in_every_browser_with_every_frame_at_its_rate(rendered, name):
    recipe, _ = CASES[name]
    _, preview = rendered[name]
    clip = read_clip(preview.media)
    assert clip["codec"] == "h264" and clip["profile"] in ("High", "Main", "Constrained Baseline")
    assert clip["pix_fmt"] == "yuv420p"
    assert len(clip["frames"]) == recipe.frames == preview.frames, "frames were dropped or added"
    assert clip["rate"] == recipe.fps, f"plays at {clip['rate']} fps, the DICOM says {recipe.fps}"
    boxes = top_level_boxes(preview.media)
    assert boxes.index("moov") < boxes.index("mdat"), f"not faststart: {boxes}"


@pytest.mark.parametrize("name", CASES)
def test_video_previews_carry_no_identifier(rendered, name):
    _, preview = rendered[name]
    for output in (preview.media, preview.poster, preview.thumbnail):
        assert MARKER.encode() not in output.read_bytes(), f"{output.name} carries the patient's marker"
    clip = read_clip(preview.media)
    assert MARKER not in str(clip["container_metadata"]) + str(clip["stream_metadata"])


@pytest.mark.parametrize("name", CASES)
def test_browser_playable_h264_is_remuxed_and_everything_else_encoded(rendered, name):
    _, remuxed = CASES[name]
    source, preview = rendered[name]
    assert (open_frame_source(source).remux is not None) is remuxed
    if remuxed:
        copied, original = decoded_grey(preview.media), source_grey(source)
        assert all(np.array_equal(a, b) for a, b in zip(copied, original)), "the H.264 stream was re-encoded"


def test_the_patient_clip_of_a_strictly_cleaned_video_shows_the_cleaned_frames(tmp_path):
    source = write_video(tmp_path / "clip.dcm", CASES["h264-ts"][0])
    strict = anonymize_file(source, tmp_path / "strict.dcm", profile=strict_profile(), key=KEY)
    basic = anonymize_file(source, tmp_path / "basic.dcm", profile=basic_profile(), key=KEY)
    cleaned = render_instance(strict.output, tmp_path / "out", stem="strict")
    kept = render_instance(basic.output, tmp_path / "out", stem="basic")
    cleaned_frames = decoded_grey(cleaned.media)
    assert max(int(f[:BANNER_ROWS].max()) for f in cleaned_frames) <= 24, "burned-in text reached the patient"
    # The cleaned stream is itself browser-playable H.264: the MP4 is a remux of it, no third generation.
    assert all(np.array_equal(a, b) for a, b in zip(cleaned_frames, source_grey(Path(strict.output))))
    # Without Clean Pixel Data nothing changed, so the MP4 is the original stream, remuxed.
    assert all(np.array_equal(a, b) for a, b in zip(decoded_grey(kept.media), source_grey(source)))


def test_a_hevc_clip_cleaned_by_strict_is_encoded_from_the_cleaned_frames(tmp_path):
    source = write_video(tmp_path / "clip.dcm", CASES["hevc-ts"][0])
    strict = anonymize_file(source, tmp_path / "strict.dcm", profile=strict_profile(), key=KEY)
    preview = render_instance(strict.output, tmp_path / "out", stem="strict")
    frames = decoded_grey(preview.media)
    assert len(frames) == CASES["hevc-ts"][0].frames
    assert max(int(f[:BANNER_ROWS].max()) for f in frames) <= 24, "burned-in text reached the patient"
