"""Every encoding a scanner may send is anonymized and previewed correctly (issue 10).

For each sample built in code (see device_samples.py): the strict profile keeps the
region's pixels exactly as pydicom decodes the input and blacks out the rest; palette
colours come out as the palette the file was built with; the basic profile copies the
pixels untouched; and the previews of the original and of the anonymized copy show the
colours the file means (a black preview of a big endian palette file fails here).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.pixels import apply_color_lut

from anonymizer import anonymize_file, basic_profile, strict_profile
from sharing.previews import render_instance

from .device_samples import (
    MARKER_NAME,
    SAMPLES,
    DeviceSample,
    build_sample,
    keep_mask,
    stored_values,
    truth_display,
)

KEY = b"device-samples"
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("devices")
    return {sample.name: build_sample(sample, folder / f"{sample.name}.dcm") for sample in SAMPLES}


def frames_of(ds) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pixels = ds.pixel_array
    return pixels if int(ds.get("NumberOfFrames") or 1) > 1 else pixels[np.newaxis]


def output_display(sample: DeviceSample, path: Path) -> np.ndarray:
    """The anonymized file as a viewer shows it, decoded by pydicom alone (outputs are little endian)."""
    ds = pydicom.dcmread(path)
    values = frames_of(ds)
    if sample.is_palette:
        return apply_color_lut(values, ds)[..., :3] / 257.0
    if ds.PhotometricInterpretation == "MONOCHROME2":
        return values / (2 ** sample.bits - 1) * 255.0
    return values.astype(np.float64)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.name)
def test_strict_keeps_the_region_exactly_and_blacks_out_the_rest(sample, built, tmp_path):
    source = built[sample.name]
    result = anonymize_file(source, tmp_path / "out.dcm", profile=strict_profile(), key=KEY)
    assert result.status == "written", f"{sample.name}: {result.status}: {result.reason}"
    assert result.pixels_verified, "the region must have been used to clean the pixels"
    output = Path(result.output)
    assert MARKER_NAME.split("^")[0].encode() not in output.read_bytes(), "the patient's name survived"

    keep = keep_mask()
    original = frames_of(pydicom.dcmread(source))
    cleaned = frames_of(pydicom.dcmread(output))
    assert cleaned.shape[:3] == original.shape[:3], "frames, rows and columns must be kept"
    assert np.array_equal(cleaned[:, keep], original[:, keep]), \
        "inside the region the decoded output must equal the decoded input"
    shown = output_display(sample, output)
    truth = truth_display(sample, stored_values(sample))
    if sample.lossless and sample.photometric != "YBR_FULL_422":
        assert np.array_equal(shown[:, keep], truth[:, keep]), "the region must show the colours the file means"
    assert np.abs(shown[:, ~keep]).max() <= 1.0, "outside the region everything must display black"


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.name)
def test_basic_copies_the_pixels_and_palette_untouched(sample, built, tmp_path):
    source = built[sample.name]
    result = anonymize_file(source, tmp_path / "out.dcm", profile=basic_profile(), key=KEY)
    assert result.status == "written", f"{sample.name}: {result.status}: {result.reason}"
    before, after = pydicom.dcmread(source), pydicom.dcmread(result.output)
    assert after.file_meta.TransferSyntaxUID == before.file_meta.TransferSyntaxUID
    assert after.PixelData == before.PixelData, "a header-only profile copies the pixels byte for byte"
    for keyword in ("RedPaletteColorLookupTableData", "SegmentedRedPaletteColorLookupTableData"):
        if keyword in before:
            assert after[keyword].value == before[keyword].value, "the palette must be copied as it was"
    assert np.array_equal(frames_of(after), frames_of(before))


def preview_pixels(path: Path, out_dir: Path, stem: str) -> np.ndarray:
    rendered = render_instance(path, out_dir, stem=stem)
    still = rendered.poster or rendered.media
    with Image.open(still) as image:
        return np.asarray(image.convert("RGB"), dtype=np.float64)


def block_means(image: np.ndarray, size: int = 4) -> np.ndarray:
    rows, columns = image.shape[0] // size * size, image.shape[1] // size * size
    image = image[:rows, :columns]
    return image.reshape(rows // size, size, columns // size, size, -1).mean(axis=(1, 3))


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.name)
def test_previews_of_the_original_and_the_anonymized_copy_show_the_right_colours(sample, built, tmp_path):
    source = built[sample.name]
    result = anonymize_file(source, tmp_path / "anon.dcm", profile=strict_profile(), key=KEY)
    assert result.status == "written", result.reason
    truth = truth_display(sample, stored_values(sample))[0]
    if truth.ndim == 2:
        truth = np.repeat(truth[..., np.newaxis], 3, axis=-1)
    keep = keep_mask()
    x0, x1 = np.where(keep.any(axis=0))[0][[0, -1]]
    y0, y1 = np.where(keep.any(axis=1))[0][[0, -1]]
    for label, path in (("original", source), ("anonymized", Path(result.output))):
        shown = preview_pixels(path, tmp_path / "previews", f"{label}-{sample.name}")
        inside_shown = block_means(shown[y0:y1 + 1, x0:x1 + 1])
        inside_truth = block_means(truth[y0:y1 + 1, x0:x1 + 1])
        if sample.photometric == "MONOCHROME2":
            # Greyscale previews are windowed: the picture must follow the values, not equal them.
            correlation = np.corrcoef(inside_shown.ravel(), inside_truth.ravel())[0, 1]
            assert correlation > 0.9, f"{label} preview does not follow the pixel values ({correlation:.2f})"
        else:
            difference = np.abs(inside_shown - inside_truth).mean()
            assert difference < 8, f"{label} preview shows other colours than the file means ({difference:.1f} levels)"
        if label == "anonymized":
            assert shown[: y0 - 1].mean() < 8, "the blacked-out banner must stay black in the preview"
