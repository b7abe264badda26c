"""Video transfer syntaxes under the anonymizer: strict cleans frame by frame and re-encodes in kind.

Clips are built in code (tests/video_samples.py): burned-in "text" in a banner above the single
ultrasound region, markers in the patient's name and ID and in the container's metadata.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pydicom
import pytest
from pydicom import uid

from anonymizer import anonymize_dataset, anonymize_file, basic_profile, strict_profile
from anonymizer.io import read_instance
from anonymizer.pixels.stream import copy_pixel_element
from anonymizer.video import VideoBitstream
from tests.video_samples import BANNER_ROWS, MARKER, VideoRecipe, video_dataset, write_video

from .anonymizer_fixtures import KEY, surviving_markers

STRICT_CASES = {
    "h264-ts": VideoRecipe(str(uid.MPEG4HP41), "libx264", "mpegts"),
    "h264-bd-mp4": VideoRecipe(str(uid.MPEG4HP41BD), "libx264", "mp4"),
    "h264-3d-fragmentable": VideoRecipe(str(uid.MPEG4HP423DF), "libx264", "mpegts", fragments=2),
    "hevc-main": VideoRecipe(str(uid.HEVCMP51), "libx265", "mpegts"),
    "hevc-main10": VideoRecipe(str(uid.HEVCM10P51), "libx265", "mpegts", pixel_format="yuv420p10le"),
    "mpeg2-ps": VideoRecipe(str(uid.MPEG2MPHL), "mpeg2video", "vob", fps=Fraction(30000, 1001)),
}
CODECS = {"libx264": "h264", "libx265": "hevc", "mpeg2video": "mpeg2video"}


def stream_of(path) -> tuple[list[np.ndarray], av.VideoFrame, Fraction, list[int], str]:
    """Decoded RGB frames, the first frame, the declared rate, the timestamps and the container of a file's clip."""
    instance = read_instance(path)
    with VideoBitstream.from_element(instance.pixels) as stream, av.open(stream) as container:
        video = container.streams.video[0]
        frames = list(container.decode(video))
        rate = Fraction(video.average_rate)
        return ([f.to_ndarray(format="rgb24") for f in frames], frames[0], rate,
                [f.pts for f in frames], container.format.name)


@pytest.mark.parametrize("name", STRICT_CASES)
def test_strict_cleans_every_frame_and_keeps_family_container_rate_and_count(name, tmp_path, out_dir):
    recipe = STRICT_CASES[name]
    source = write_video(tmp_path / "clip.dcm", recipe)
    result = anonymize_file(source, out_dir / "out.dcm", profile=strict_profile(), key=KEY)
    assert result.status == "written" and result.pixels_verified, result.reason
    out = pydicom.dcmread(result.output)
    assert out.file_meta.TransferSyntaxUID == recipe.syntax, "the transfer syntax changed"
    assert int(out.NumberOfFrames) == recipe.frames
    frames, first, rate, pts, container = stream_of(result.output)
    _, _, source_rate, source_pts, source_container = stream_of(source)
    assert len(frames) == recipe.frames, "frames were dropped or added"
    assert container == source_container, "the container changed"
    # The muxer may start the clock elsewhere (a program stream's mux delay); the intervals stay.
    intervals = [b - a for a, b in zip(pts, pts[1:])]
    assert rate == source_rate and intervals == [b - a for a, b in zip(source_pts, source_pts[1:])], \
        "the frame timing changed"
    assert first.format.name == recipe.pixel_format, "the bit depth or chroma changed"
    banner = max(int(f[:BANNER_ROWS].max()) for f in frames)
    assert banner <= 24, f"burned-in text survived in the banner (max level {banner})"
    inside = np.mean([f[BANNER_ROWS + 8:].mean() for f in frames])
    assert inside > 30, "the image inside the region was blanked too"
    assert surviving_markers(Path(result.output)) == [], "a marker survived strict anonymization"
    assert out.LossyImageCompression == "01"
    methods = out.LossyImageCompressionMethod
    assert (methods if isinstance(methods, str) else methods[-1]) == {
        "h264": "ISO_14496_10", "hevc": "ISO_23008_2", "mpeg2video": "ISO_13818_2"}[CODECS[recipe.encoder]]
    ratios = out.LossyImageCompressionRatio
    assert float(ratios[-1] if isinstance(ratios, pydicom.multival.MultiValue) else ratios) > 1
    assert out.BurnedInAnnotation == "NO"


def test_a_second_lossy_generation_is_listed_after_the_first(tmp_path, out_dir):
    ds = video_dataset(STRICT_CASES["h264-ts"])
    ds.LossyImageCompressionMethod, ds.LossyImageCompressionRatio = "ISO_14496_10", "40"
    ds.save_as(tmp_path / "clip.dcm", enforce_file_format=True)
    result = anonymize_file(tmp_path / "clip.dcm", out_dir / "out.dcm", profile=strict_profile(), key=KEY)
    out = pydicom.dcmread(result.output, stop_before_pixels=True)
    assert list(out.LossyImageCompressionMethod) == ["ISO_14496_10", "ISO_14496_10"]
    assert list(out.LossyImageCompressionRatio)[0] == 40


def test_3d_h264_keeps_its_frame_packing(tmp_path, out_dir):
    recipe = VideoRecipe(str(uid.MPEG4HP423D), "libx264", "mpegts", x264_params="frame-packing=3")
    source = write_video(tmp_path / "3d.dcm", recipe)
    result = anonymize_file(source, out_dir / "out.dcm", profile=strict_profile(), key=KEY)
    assert result.pixels_verified, result.reason
    _, first, _, _, _ = stream_of(Path(result.output))
    assert "STEREO3D" in {side.type.name for side in first.side_data}, "the side-by-side arrangement was lost"


def test_stereo_h264_keeps_its_base_view_under_the_2d_syntax(tmp_path, out_dir):
    recipe = VideoRecipe(str(uid.MPEG4HP42STEREO), "libx264", "mpegts")
    ds = video_dataset(recipe)
    ds.StereoPairsPresent = "YES"
    ds.save_as(tmp_path / "stereo.dcm", enforce_file_format=True)
    result = anonymize_file(tmp_path / "stereo.dcm", out_dir / "out.dcm", profile=strict_profile(), key=KEY)
    out = pydicom.dcmread(result.output, stop_before_pixels=True)
    assert out.file_meta.TransferSyntaxUID == uid.MPEG4HP422D
    assert out.get("StereoPairsPresent", "NO") == "NO"


def test_a_clip_strict_cannot_clean_keeps_its_pictures_but_loses_sound_metadata_and_user_data(tmp_path, out_dir):
    recipe = VideoRecipe(str(uid.MPEG4HP41), "libx264", "mpegts", audio=True)
    ds = video_dataset(recipe)
    del ds.SequenceOfUltrasoundRegions  # nothing says where the text is
    ds.save_as(tmp_path / "clip.dcm", enforce_file_format=True)
    result = anonymize_file(tmp_path / "clip.dcm", out_dir / "out.dcm", profile=strict_profile(), key=KEY)
    assert result.status == "written" and not result.pixels_verified
    out = pydicom.dcmread(result.output)
    assert out.BurnedInAnnotation == "YES", "unverified pixels must never be claimed clean"
    assert MARKER.encode() not in out.PixelData, "the container's metadata survived"
    assert b"x264" not in out.PixelData, "the encoder's user data (SEI) survived"
    instance = read_instance(Path(result.output))
    with VideoBitstream.from_element(instance.pixels) as stream, av.open(stream) as container:
        assert not container.streams.audio, "the sound track survived"
    frames, _, _, _, _ = stream_of(Path(result.output))
    source_frames, _, _, _, _ = stream_of(tmp_path / "clip.dcm")
    assert len(frames) == recipe.frames
    assert all(np.array_equal(a, b) for a, b in zip(frames, source_frames)), "the pictures were re-encoded"


def test_basic_profile_copies_the_stream_byte_for_byte(tmp_path, out_dir):
    source = write_video(tmp_path / "clip.dcm", STRICT_CASES["hevc-main"])
    result = anonymize_file(source, out_dir / "out.dcm", profile=basic_profile(), key=KEY)
    assert result.status == "written"

    def pixel_bytes(path):
        import io

        buffer = io.BytesIO()
        copy_pixel_element(read_instance(path).pixels, buffer, implicit_vr=False, little_endian=True, native_vr="OB")
        return buffer.getvalue()

    assert pixel_bytes(result.output) == pixel_bytes(source), "the basic profile re-encoded the clip"
    assert pydicom.dcmread(result.output).file_meta.TransferSyntaxUID == uid.HEVCMP51


def test_a_dataset_in_memory_is_cleaned_the_same_way():
    recipe = STRICT_CASES["mpeg2-ps"]
    result = anonymize_dataset(video_dataset(recipe), profile=strict_profile(), key=KEY)
    assert result.status == "written" and result.pixels_verified
    ds = result.dataset
    with VideoBitstream.from_value(ds.PixelData) as stream, av.open(stream) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == recipe.frames and max(int(f[:BANNER_ROWS].max()) for f in frames) <= 24
    assert MARKER not in str(ds.PatientName)


def test_a_frame_count_that_disagrees_with_the_stream_is_refused(tmp_path, out_dir):
    ds = video_dataset(STRICT_CASES["h264-ts"])
    ds.NumberOfFrames = 99
    ds.save_as(tmp_path / "lying.dcm", enforce_file_format=True)
    result = anonymize_file(tmp_path / "lying.dcm", out_dir, profile=strict_profile(), key=KEY)
    assert result.status == "rejected"
    assert "holds 24 frame(s) but NumberOfFrames says 99" in result.reason
    assert list(out_dir.iterdir()) == [], "a half-written output stayed behind"
