"""Burned-in text is blacked out; what is inside the regions stays; files stay valid."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.encaps import generate_frames

from anonymizer import anonymize_file, basic_profile, strict_profile
from anonymizer.pixels.regions import PixelPlan, blank_rectangles, mask_outside_regions
from .anonymizer_fixtures import KEY, jpeg_clip, write_dataset

BUNDLED_US = ["examples_ybr_color.dcm", "examples_palette.dcm", "examples_rgb_color.dcm", "examples_jpeg2k.dcm"]


def bundled(name: str) -> Path:
    path = get_testdata_file(name, download=False)
    assert path, f"pydicom's bundled {name} is missing"
    return Path(path)


def region_bounds(ds) -> list[tuple[int, int, int, int]]:
    return [(int(r.RegionLocationMinX0), int(r.RegionLocationMinY0), int(r.RegionLocationMaxX1), int(r.RegionLocationMaxY1))
            for r in ds.get("SequenceOfUltrasoundRegions", [])]


@pytest.mark.parametrize("name", BUNDLED_US)
def test_bundled_ultrasound_files_come_out_valid_verified_and_decodable(name, out_dir):
    source = bundled(name)
    result = anonymize_file(source, out_dir, profile=strict_profile(), key=KEY)
    assert result.status == "written", result.reason
    original, cleaned = pydicom.dcmread(source), pydicom.dcmread(result.output)
    before, after = original.pixel_array, cleaned.pixel_array
    assert before.shape == after.shape, "frames, rows, columns and samples must be kept"
    assert result.pixels_verified and cleaned.BurnedInAnnotation == "NO", \
        "each bundled file comes out verified: regions, or text detection over the whole frame"
    regions = region_bounds(original)
    assert result.pixel_rule == ("regions" if regions else "whole frame") + " + text detection"
    assert result.text_boxes_found >= 2 and result.text_boxes_blacked_out >= 1, "their burned-in text is found"
    rows, columns = int(original.Rows), int(original.Columns)
    keep = np.zeros((rows, columns), dtype=bool)
    for x0, y0, x1, y1 in regions or [(0, 0, columns - 1, rows - 1)]:
        keep[max(y0, 0):min(y1, rows - 1) + 1, max(x0, 0):min(x1, columns - 1) + 1] = True
    multi_frame = int(original.get("NumberOfFrames", 1) or 1) > 1
    frames_before = before if multi_frame else before[None]
    frames_after = after if multi_frame else after[None]
    if original.PhotometricInterpretation == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        frames_before, frames_after = apply_color_lut(frames_before, original), apply_color_lut(frames_after, cleaned)
    inside_before = frames_before[:, keep].astype(int)
    inside_after = frames_after[:, keep].astype(int)
    lossy = original.file_meta.TransferSyntaxUID == pydicom.uid.JPEGBaseline8Bit
    dark = 40 if lossy else 0
    lit_before = inside_before.reshape(inside_before.shape[0], inside_before.shape[1], -1).max(axis=-1) > dark
    blacked = inside_after.reshape(inside_after.shape[0], inside_after.shape[1], -1).max(axis=-1) <= dark
    # Without regions the banners go with their text (the top quarter of these GE frames).
    assert (blacked & lit_before).mean() < (0.05 if regions else 0.3), "only text boxes and banners are blacked out"
    kept = ~blacked
    difference = np.abs(inside_before - inside_after)[kept]
    if lossy:
        assert difference.mean() < 1.5 and np.percentile(difference, 99) <= 8, \
            "inside the regions a re-encoded JPEG must look the same"
    else:
        assert not difference.any(), "what is kept of lossless pixels must be identical"
    if regions:
        outside = frames_after[:, ~keep]
        assert outside.max(initial=0) <= (40 if lossy else 0), "outside the regions everything must be black"


def test_jpeg_clip_stays_baseline_with_one_fragment_per_frame(tmp_path, out_dir):
    clip = jpeg_clip(6)
    source = write_dataset(clip, tmp_path / "clip.dcm")
    result = anonymize_file(source, out_dir, profile=strict_profile(), key=KEY)
    out = pydicom.dcmread(result.output)
    assert out.file_meta.TransferSyntaxUID == pydicom.uid.JPEGBaseline8Bit
    frames = list(generate_frames(out.PixelData, number_of_frames=6))
    assert len(frames) == 6
    first = np.asarray(Image.open(io.BytesIO(frames[0])).convert("RGB")).astype(int)
    assert first[:40, 20:300].max() < 40, "the banner text must be blacked out"
    original = np.asarray(Image.open(io.BytesIO(next(generate_frames(clip.PixelData, number_of_frames=6)))).convert("RGB")).astype(int)
    inside = (slice(76, 424), slice(80, 560))  # the region, less one MCU row/column at its edges
    assert np.abs(first[inside] - original[inside]).mean() < 1.0, "re-encoding with the source tables must not visibly degrade"
    assert out.LossyImageCompression == "01" and out.LossyImageCompressionMethod == "ISO_10918_1"


def test_native_palette_keeps_its_syntax_and_palette(out_dir):
    ds = pydicom.dcmread(bundled("examples_palette.dcm"))
    result = anonymize_file(bundled("examples_palette.dcm"), out_dir, profile=strict_profile(), key=KEY)
    out = pydicom.dcmread(result.output)
    assert result.pixels_verified and out.file_meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID
    assert out.RedPaletteColorLookupTableData == ds.RedPaletteColorLookupTableData, "palettes are kept"


def test_vendor_rule_blanks_the_banner_without_regions(tmp_path, out_dir):
    ds = pydicom.dcmread(bundled("examples_jpeg2k.dcm"))
    ds.Manufacturer = "ACUSON"
    ds.ManufacturerModelName = "SEQUOIA"
    source = write_dataset(ds, tmp_path / "sequoia.dcm")
    result = anonymize_file(source, out_dir, profile=strict_profile(), key=KEY)
    assert result.pixels_verified and "vendor rule" in result.reason
    out = pydicom.dcmread(result.output)
    assert out.file_meta.TransferSyntaxUID == pydicom.uid.RLELossless, "a lossless source stays lossless (RLE)"
    pixels = out.pixel_array
    assert pixels[:30].max() == 0, "the vendor's 640x30 banner must be black"
    below_before, below_after = ds.pixel_array[30:].astype(int), pixels[30:].astype(int)
    changed = (below_before != below_after).any(axis=-1)
    assert (below_after.max(axis=-1)[changed] == 0).all(), "below the banner a pixel is identical or blacked out"
    assert changed.mean() < 0.15, "below the banner only text boxes are blacked out"
    assert result.pixel_rule == "vendor rule: Logiq US (LOGIQ9) + text detection" or "vendor rule" in result.pixel_rule


def test_header_only_profile_never_decodes_pixels(monkeypatch, out_dir):
    def refuse(*args, **kwargs):
        raise AssertionError("a header-only profile decoded pixel data")

    monkeypatch.setattr(pydicom.dataset.Dataset, "pixel_array", property(refuse))
    monkeypatch.setattr("anonymizer.pixels.decoding.iter_pixels", refuse)
    monkeypatch.setattr("PIL.Image.open", refuse)
    source = bundled("examples_ybr_color.dcm")
    result = anonymize_file(source, out_dir, profile=basic_profile(), key=KEY)
    assert result.status == "written"
    assert pydicom.dcmread(result.output).PixelData == pydicom.dcmread(source).PixelData, \
        "pixels are copied byte for byte"


def test_mask_outside_regions_blacks_exactly_the_complement():
    keep = np.zeros((20, 30), dtype=bool)
    keep[3:10, 4:12] = True
    keep[12:18, 20:28] = True
    frame = np.full((20, 30, 3), 200, dtype=np.uint8)
    mask_outside_regions(frame, PixelPlan(keep, "regions"), (0, 128, 128))
    assert (frame[keep] == 200).all()
    assert (frame[~keep] == (0, 128, 128)).all()
    assert len(blank_rectangles(keep)) < keep.size // 10
