"""Bad input costs one instance, with a clear reason; nothing half-made is left behind."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from .preview_samples import (
    build_jpeg_clip,
    build_native,
    ffmpeg_children,
    jpeg_fragment,
    moving_pattern,
    new_dataset,
    sample,
    save,
)
from sharing.previews import NotAnImage, PreviewError, RenderedPreview, render_instance, render_instances
from sharing.previews.clips import RawFrames, X264Settings, encode_clip

MPEG4_AVC = "1.2.840.10008.1.2.4.102"
JPEG2000_PART2 = "1.2.840.10008.1.2.4.93"  # no decoder is installed for it
GREY_16 = RawFrames(16, 16, "gray", Fraction(30))


def all_files(folder: Path) -> set[str]:
    """Every file, hidden partials included."""
    return {p.name for p in folder.rglob("*")} if folder.exists() else set()


def truncated_copy(source: Path, path: Path, fraction: float) -> Path:
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def corrupt_frame_clip(path: Path, bad_index: int) -> Path:
    frames = moving_pattern(6, 48, 64, colour=True)
    fragments = [jpeg_fragment(f) for f in frames]
    fragments[bad_index] = b"\xff\xd8 this is not a JPEG codestream \xff\xd9"
    return build_jpeg_clip(path, frames, fragments=fragments)


def garbage_stream(path: Path, syntax: str) -> Path:
    ds = new_dataset(syntax=syntax)
    ds.Rows, ds.Columns, ds.NumberOfFrames = 48, 64, 10
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 3, "YBR_PARTIAL_420"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    from pydicom.encaps import encapsulate

    ds.PixelData = encapsulate([b"\x00\x00\x00\x01" * 16])
    ds["PixelData"].VR = "OB"
    return save(ds, path)


def test_truncated_clip_is_refused_and_leaves_nothing(tmp_path, out_dir):
    path = truncated_copy(sample("examples_ybr_color.dcm"), tmp_path / "cut.dcm", 0.6)
    with pytest.raises(PreviewError, match="frame"):
        render_instance(path, out_dir, stem="clip-1")
    assert all_files(out_dir) == set(), "a partial clip, poster or temporary file was left"
    assert ffmpeg_children() == []


def test_file_cut_inside_its_header_is_refused(tmp_path, out_dir):
    path = truncated_copy(sample("CT_small.dcm"), tmp_path / "cut.dcm", 0.02)
    with pytest.raises(PreviewError):
        render_instance(path, out_dir, stem="img-1")
    assert all_files(out_dir) == set()


def test_undecodable_frame_is_named_in_the_error(tmp_path, out_dir):
    path = corrupt_frame_clip(tmp_path / "bad.dcm", bad_index=3)
    with pytest.raises(PreviewError, match="frame 3") as caught:
        render_instance(path, out_dir, stem="clip-1")
    assert caught.value.stem == "clip-1"
    assert all_files(out_dir) == set()
    assert ffmpeg_children() == [], "ffmpeg left running or unreaped after a decode error"


def test_a_frame_with_damaged_image_data_fails_the_clip_instead_of_being_concealed(tmp_path, out_dir):
    frames = moving_pattern(6, 48, 64, colour=True)
    fragments = [jpeg_fragment(f) for f in frames]
    start_of_scan = fragments[3].find(b"\xff\xda")
    fragments[3] = fragments[3][:start_of_scan + 30] + b"\xff\xd9"  # header intact, image data cut short
    path = build_jpeg_clip(tmp_path / "damaged.dcm", frames, fragments=fragments)
    with pytest.raises(PreviewError):
        render_instance(path, out_dir, stem="clip-1")
    assert all_files(out_dir) == set()
    assert ffmpeg_children() == [], "ffmpeg left running or unreaped after a decode error"


def test_unsupported_transfer_syntax_says_so(tmp_path, out_dir):
    with pytest.raises(PreviewError, match="unsupported transfer syntax"):
        render_instance(garbage_stream(tmp_path / "j2k-part2.dcm", JPEG2000_PART2), out_dir, stem="clip-1")


def test_a_video_syntax_whose_stream_does_not_play_says_so(tmp_path, out_dir):
    with pytest.raises(PreviewError, match="the video stream cannot be read") as caught:
        render_instance(garbage_stream(tmp_path / "video.dcm", MPEG4_AVC), out_dir, stem="clip-1")
    assert "video.dcm" not in str(caught.value), "the message names the file"
    assert all_files(out_dir) == set()


def test_unsupported_photometric_interpretation_says_so(tmp_path, out_dir):
    path = build_native(tmp_path / "hsv.dcm", moving_pattern(1, 8, 8, colour=True)[0], "RGB", bits_stored=8)
    from pydicom import dcmread

    ds = dcmread(path)
    ds.PhotometricInterpretation = "HSV"
    save(ds, path)
    with pytest.raises(PreviewError, match="photometric interpretation HSV"):
        render_instance(path, out_dir, stem="img-1")


def test_non_dicom_and_pixel_less_files_are_not_images(tmp_path, out_dir):
    text = tmp_path / "notes.txt"
    text.write_text("not DICOM")
    with pytest.raises(NotAnImage, match="not a DICOM file"):
        render_instance(text, out_dir, stem="img-1")
    report = new_dataset()
    report.Modality = "SR"
    with pytest.raises(NotAnImage, match="no pixel data"):
        render_instance(save(report, tmp_path / "sr.dcm"), out_dir, stem="img-2")


def test_one_bad_instance_does_not_stop_the_others(tmp_path, out_dir):
    items = [
        (sample("examples_rgb_color.dcm"), "img-1"),
        (truncated_copy(sample("examples_ybr_color.dcm"), tmp_path / "cut.dcm", 0.5), "clip-1"),
        (corrupt_frame_clip(tmp_path / "bad.dcm", bad_index=0), "clip-2"),
        (garbage_stream(tmp_path / "video.dcm", MPEG4_AVC), "clip-3"),
        (sample("examples_ybr_color.dcm"), "clip-4"),
        (sample("CT_small.dcm"), "img-2"),
    ]
    results = render_instances(items, out_dir, workers=2)
    kinds = [type(r).__name__ for r in results]
    assert kinds == ["RenderedPreview", "PreviewError", "PreviewError", "PreviewError", "RenderedPreview", "RenderedPreview"]
    assert [r.stem for r in results if isinstance(r, PreviewError)] == ["clip-1", "clip-2", "clip-3"]
    assert all_files(out_dir) == {
        "img-1.jpg", "img-1-thumb.jpg",
        "clip-4.mp4", "clip-4-poster.jpg", "clip-4-thumb.jpg",
        "img-2.jpg", "img-2-thumb.jpg",
    }, "failed instances left files, or good ones are missing"
    assert all(isinstance(r, RenderedPreview) and r.media.stat().st_size > 0 for r in (results[0], results[4], results[5]))


def test_ffmpeg_failure_is_reported_with_its_cause(out_dir):
    frames = iter(moving_pattern(3, 16, 16, colour=False))
    with pytest.raises(PreviewError, match=r"ffmpeg failed \(exit \d+\):.*no-such-preset"):
        encode_clip(frames, out_dir / "c.mp4", GREY_16, X264Settings(preset="no-such-preset"))
    assert all_files(out_dir) == set()
    assert ffmpeg_children() == []


def test_failure_while_streaming_kills_and_reaps_ffmpeg(out_dir):
    def frames_then_failure():
        yield from moving_pattern(3, 16, 16, colour=False)
        raise PreviewError("frame 3 could not be decoded: boom")

    with pytest.raises(PreviewError, match="frame 3"):
        encode_clip(frames_then_failure(), out_dir / "c.mp4", GREY_16)
    assert ffmpeg_children() == [], "ffmpeg still running or a zombie"
    assert all_files(out_dir) == set(), "the temporary MP4 was left behind"


def test_frame_of_the_wrong_shape_is_refused(out_dir):
    frames = [np.zeros((16, 16), np.uint8), np.zeros((16, 18), np.uint8)]
    with pytest.raises(PreviewError, match="frame 1"):
        encode_clip(frames, out_dir / "c.mp4", GREY_16)
    assert all_files(out_dir) == set()


@pytest.mark.parametrize("stem", ["../escape", "a/b", "", ".hidden", "x" * 200])
def test_stem_must_be_a_plain_file_name(stem, out_dir):
    with pytest.raises(ValueError):
        render_instance(sample("CT_small.dcm"), out_dir, stem=stem)
