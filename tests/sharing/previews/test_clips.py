"""Multi-frame instances become MP4 clips every browser plays inline, at the right rate."""

from __future__ import annotations

import tracemalloc
from fractions import Fraction

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from .preview_samples import (
    build_jpeg_clip,
    build_native,
    moving_pattern,
    read_clip,
    read_jpeg,
    sample,
    top_level_boxes,
)
from sharing.previews import render_instance
from sharing.previews.frame_rate import clip_frame_rate
from sharing.previews.frames import open_frame_source


@pytest.fixture(scope="module")
def ultrasound_clip(tmp_path_factory):
    """examples_ybr_color.dcm: 30 frames of JPEG Baseline YBR_FULL_422 at 33.333 ms."""
    out = tmp_path_factory.mktemp("out")
    preview = render_instance(sample("examples_ybr_color.dcm"), out, stem="clip-1")
    return preview, read_clip(preview.media)


def test_clip_has_every_frame_at_the_recorded_rate(ultrasound_clip):
    preview, clip = ultrasound_clip
    assert preview.kind == "clip" and preview.media.name == "clip-1.mp4"
    assert len(clip["frames"]) == 30 == preview.frames, "a frame was lost or duplicated"
    assert clip["rate"] == Fraction(30) == preview.fps, "33.333 ms per frame must play at exactly 30 fps"


def test_clip_is_h264_high_or_main_in_yuv420p(ultrasound_clip):
    _, clip = ultrasound_clip
    assert clip["codec"] == "h264"
    assert clip["profile"] in ("Main", "High"), "phones only decode Main/High in hardware"
    assert clip["pix_fmt"] == "yuv420p", "Safari and Firefox play only 4:2:0"


def test_clip_index_comes_before_the_media_for_progressive_playback(ultrasound_clip):
    preview, _ = ultrasound_clip
    boxes = top_level_boxes(preview.media)
    assert boxes.index("moov") < boxes.index("mdat"), f"not faststart: {boxes}"


def test_clip_carries_no_title_comment_or_encoder_banner(ultrasound_clip):
    preview, clip = ultrasound_clip
    tags = {k.lower() for k in {**clip["container_metadata"], **clip["stream_metadata"]}}
    assert not tags & {"title", "comment", "encoder", "creation_time", "artist"}, tags
    data = preview.media.read_bytes()
    assert b"x264 - core" not in data and b"Lavf" not in data, "encoder banner left in the file"


def test_clip_frames_look_like_the_dicom_frames(ultrasound_clip):
    _, clip = ultrasound_clip
    ds = pydicom.dcmread(sample("examples_ybr_color.dcm"))
    for index in (0, 29):
        rgb = ds.pixel_array[index].astype(np.float64)
        luma = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
        difference = np.abs(clip["frames"][index].astype(np.float64) - luma).mean()
        assert difference < 4, f"frame {index} differs by {difference:.1f} grey levels"


def test_clip_gets_a_poster_of_its_first_frame_and_a_small_thumbnail(ultrasound_clip):
    preview, _ = ultrasound_clip
    assert preview.poster.name == "clip-1-poster.jpg"
    assert read_jpeg(preview.poster).shape[:2] == (240, 320), "poster must be full size"
    assert max(read_jpeg(preview.thumbnail).shape[:2]) <= 320


def test_jpeg_baseline_ybr_frames_are_decoded_from_their_fragments():
    source = open_frame_source(sample("examples_ybr_color.dcm"))
    assert source.decoder == "jpeg-fragments"
    frame = next(source.frames())
    reference = pydicom.dcmread(sample("examples_ybr_color.dcm")).pixel_array[0]
    # libjpeg-turbo returns RGB; converting YBR again would shift every colour.
    assert np.abs(frame.astype(int) - reference.astype(int)).mean() <= 1


def test_clip_never_decodes_the_whole_pixel_data_at_once(tmp_path, out_dir, monkeypatch):
    def forbidden(self):
        raise AssertionError("ds.pixel_array decodes every frame at once")

    monkeypatch.setattr(Dataset, "pixel_array", property(forbidden))
    path = build_native(tmp_path / "in.dcm", moving_pattern(8, 30, 40, colour=False), "MONOCHROME2", bits_stored=8)
    assert render_instance(path, out_dir, stem="clip-1").frames == 8
    assert render_instance(sample("examples_ybr_color.dcm"), out_dir, stem="clip-2").frames == 30


def test_clip_memory_stays_at_a_few_frames(tmp_path, out_dir):
    frames = moving_pattern(120, 240, 320, colour=True)
    path = build_jpeg_clip(tmp_path / "in.dcm", frames)
    decoded_clip_bytes = frames.nbytes
    del frames
    tracemalloc.start()
    try:
        render_instance(path, out_dir, stem="clip-1")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < decoded_clip_bytes / 4, f"peak {peak / 1e6:.1f} MB for a {decoded_clip_bytes / 1e6:.1f} MB clip"


def test_odd_sized_clip_is_padded_to_even_never_scaled(tmp_path, out_dir):
    frames = moving_pattern(4, 121, 161, colour=False)
    # A white last column and last row: scaling would blur them or move them.
    frames[:, :, -1] = 255
    frames[:, -1, :] = 255
    path = build_native(tmp_path / "in.dcm", frames, "MONOCHROME2", bits_stored=8)
    preview = render_instance(path, out_dir, stem="clip-1")
    clip = read_clip(preview.media)
    assert clip["size"] == (162, 122) == (preview.width, preview.height)
    decoded = clip["frames"][0].astype(int)
    assert decoded[:120, 160].mean() > 200 and decoded[120, :160].mean() > 200, "the edge moved"
    assert decoded[:, 161].mean() < 40 and decoded[121, :].mean() < 40, "padding is not black"
    difference = np.abs(decoded[:121, :161] - frames[0]).mean()
    assert difference < 3, f"the picture was moved or scaled ({difference:.1f} levels off)"


def test_grey_clip_is_sent_to_ffmpeg_as_grey(tmp_path, out_dir, monkeypatch):
    import sharing.previews.clips as clips

    commands = []
    real_popen = clips.subprocess.Popen

    def recording_popen(command, **kwargs):
        commands.append(command)
        return real_popen(command, **kwargs)

    monkeypatch.setattr(clips.subprocess, "Popen", recording_popen)
    path = build_native(tmp_path / "in.dcm", moving_pattern(3, 20, 20, colour=False), "MONOCHROME2", bits_stored=8)
    render_instance(path, out_dir, stem="clip-1")
    command = commands[0]
    assert command[command.index("-pix_fmt") + 1] == "gray", "grey frames must not be piped as RGB"


def test_clip_without_a_window_keeps_one_window_for_all_frames(tmp_path, out_dir):
    # 16-bit frames that grow brighter: a window per frame would make them all
    # look the same (and the clip flicker); one window keeps the progression.
    base = moving_pattern(6, 32, 32, colour=False).astype(np.uint16)
    frames = np.stack([base[i] * (20 + 20 * i) for i in range(6)]).astype(np.uint16)
    path = build_native(tmp_path / "in.dcm", frames, "MONOCHROME2", bits_stored=16)
    clip = read_clip(render_instance(path, out_dir, stem="clip-1").media)
    means = [f.mean() for f in clip["frames"]]
    assert all(a < b for a, b in zip(means, means[1:])), f"brightness not kept across frames: {means}"
    assert means[-1] - means[0] > 60


@pytest.mark.parametrize(
    ("timing", "expected"),
    [
        ({"FrameTime": "33.333"}, Fraction(30)),
        ({"FrameTime": "40"}, Fraction(25)),
        ({"FrameTime": "33.3667"}, Fraction(2997, 100)),
        ({"FrameTime": "33.367"}, Fraction(989, 33)),
        ({"FrameTimeVector": ["0", "50", "50", "50"]}, Fraction(20)),
        ({"FrameTimeVector": ["0", "40", "50"], "CineRate": "10"}, Fraction(200, 9)),
        ({"CineRate": "15"}, Fraction(15)),
        ({"RecommendedDisplayFrameRate": "12"}, Fraction(12)),
        ({"CineRate": "24", "RecommendedDisplayFrameRate": "12"}, Fraction(24)),
        ({"FrameTime": "0", "CineRate": "15"}, Fraction(15)),
        ({}, Fraction(30)),
    ],
)
def test_frame_rate_follows_the_attribute_order(timing, expected):
    header = Dataset()
    for keyword, value in timing.items():
        setattr(header, keyword, value)
    rate = clip_frame_rate(header)
    assert rate == expected
    assert rate.denominator <= 100, "the encoder must get a small rational"


@pytest.mark.parametrize(("timing", "expected"), [({"FrameTime": "40"}, 25), ({"CineRate": "15"}, 15)])
def test_clip_plays_at_the_rate_read_back_from_the_file(timing, expected, tmp_path, out_dir):
    path = build_native(tmp_path / "in.dcm", moving_pattern(5, 16, 16, colour=False), "MONOCHROME2", bits_stored=8, **timing)
    clip = read_clip(render_instance(path, out_dir, stem="clip-1").media)
    assert clip["rate"] == expected and len(clip["frames"]) == 5


def test_pillow_decodes_the_fragments_when_simplejpeg_is_missing(monkeypatch):
    import sharing.previews.frames as frames

    with_simplejpeg = next(open_frame_source(sample("examples_ybr_color.dcm")).frames())
    monkeypatch.setattr(frames, "simplejpeg", None)
    source = open_frame_source(sample("examples_ybr_color.dcm"))
    assert source.decoder == "jpeg-fragments"
    assert np.abs(next(source.frames()).astype(int) - with_simplejpeg.astype(int)).max() <= 1
