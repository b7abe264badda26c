"""Correct pixels for every kind of image: each still (or clip poster) within 2 grey
levels of pydicom's own decoding after the same LUTs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut
from pydicom.uid import RLELossless

from .preview_samples import build_jpeg_clip, build_native, moving_pattern, new_dataset, read_jpeg, sample, save
from sharing.previews import render_instance

MAX_MEAN_DIFFERENCE = 2.0
# SC_rgb_jpeg.dcm declares explicit VR but is written implicit: a quirk of the sample itself.
pytestmark = pytest.mark.filterwarnings("ignore:Expected explicit VR:UserWarning")
SC_RGB_VARIANTS = sorted(p.name for p in sample("SC_rgb_jpeg.dcm").parent.glob("SC_rgb_*.dcm"))
SAMPLE_FILES = [
    "examples_ybr_color.dcm",
    "examples_palette.dcm",
    "examples_rgb_color.dcm",
    "examples_jpeg2k.dcm",
    "CT_small.dcm",
    "MR_small.dcm",
    *SC_RGB_VARIANTS,
    # Transfer syntaxes and pixel layouts beyond the required set.
    "SC_ybr_full_422_uncompressed.dcm",
    "MR_small_RLE.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "MR_small_jp2klossless.dcm",
    "JPGExtended.dcm",
    "JPEGLSNearLossless_16.dcm",
    "image_dfl.dcm",
    "693_J2KI.dcm",
    "examples_overlay.dcm",
    "liver_1frame.dcm",
]


def window_output_range(ds: Dataset) -> tuple[float, float]:
    """The range pydicom's apply_windowing maps a window onto (its own convention)."""
    if "ModalityLUTSequence" in ds:
        low, high = 0, 2 ** ds.ModalityLUTSequence[0].LUTDescriptor[2] - 1
    elif ds.PixelRepresentation == 0:
        low, high = 0, 2**ds.BitsStored - 1
    else:
        low, high = -(2 ** (ds.BitsStored - 1)), 2 ** (ds.BitsStored - 1) - 1
    if "RescaleSlope" in ds and "RescaleIntercept" in ds:
        low = low * ds.RescaleSlope + ds.RescaleIntercept
        high = high * ds.RescaleSlope + ds.RescaleIntercept
    return low, high


def reference_display(path: Path) -> np.ndarray:
    """Frame 0 as an 8-bit display image, from ds.pixel_array and pydicom's LUT functions."""
    ds = pydicom.dcmread(path)
    clip = ds.pixel_array if int(ds.get("NumberOfFrames") or 1) > 1 else ds.pixel_array[np.newaxis]
    frame = clip[0]
    photometric = ds.PhotometricInterpretation
    if photometric in ("MONOCHROME1", "MONOCHROME2"):
        values = apply_modality_lut(frame, ds)
        if "VOILUTSequence" in ds:
            unit = apply_voi_lut(values.astype(np.int64), ds) / (2 ** ds.VOILUTSequence[0].LUTDescriptor[2] - 1)
        elif "WindowCenter" in ds:
            low, high = window_output_range(ds)
            unit = (apply_voi_lut(values, ds) - low) / (high - low)
        elif ds.BitsStored <= 8 and "RescaleSlope" not in ds:
            unit = values / (2**ds.BitsStored - 1)
        else:
            # No window: the 0.5-99.5 percentile range of the whole clip.
            low, high = np.percentile(apply_modality_lut(clip, ds), [0.5, 99.5])
            unit = np.clip((values - low) / (high - low), 0, 1)
        if photometric == "MONOCHROME1":
            unit = 1 - unit
    elif photometric == "PALETTE COLOR":
        unit = apply_color_lut(frame, ds)[..., :3] / (2 ** ds.RedPaletteColorLookupTableDescriptor[2] - 1)
    else:
        # pydicom has already converted YBR_FULL(_422) to RGB.
        unit = frame / (2**ds.BitsStored - 1)
    return np.clip(np.rint(unit * 255), 0, 255).astype(np.uint8)


def assert_faithful(path: Path, out_dir: Path, stem: str) -> None:
    preview = render_instance(path, out_dir, stem=stem)
    still = preview.poster if preview.kind == "clip" else preview.media
    rendered = read_jpeg(still).astype(np.int16)
    reference = reference_display(path).astype(np.int16)
    assert rendered.shape == reference.shape, "the still is not at full resolution"
    difference = float(np.abs(rendered - reference).mean())
    assert difference <= MAX_MEAN_DIFFERENCE, f"{path.name}: mean difference {difference:.2f} grey levels"


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_bundled_sample_matches_pydicom_reference(name, out_dir):
    assert_faithful(sample(name), out_dir, "img-1")


def _grey_ramp(rows=64, columns=80, *, low=0, high=4095, dtype=np.uint16) -> np.ndarray:
    y, x = np.mgrid[0:rows, 0:columns]
    ramp = low + (high - low) * (x / (columns - 1) * 0.8 + y / (rows - 1) * 0.2)
    return ramp.astype(dtype)


def build_monochrome1_windowed(path: Path) -> Path:
    # An asymmetric window: inverting before the VOI would give another image.
    return build_native(path, _grey_ramp(), "MONOCHROME1", bits_stored=12, WindowCenter="1200", WindowWidth="1800")


def build_monochrome1_unwindowed(path: Path) -> Path:
    return build_native(path, _grey_ramp(), "MONOCHROME1", bits_stored=12)


def build_signed_rescaled(path: Path) -> Path:
    # CT-like: signed 12 bits stored in 16, rescaled to HU, soft-tissue window.
    pixels = _grey_ramp(low=-2000, high=2000, dtype=np.int16)
    return build_native(
        path, pixels, "MONOCHROME2", bits_stored=12,
        RescaleSlope="1", RescaleIntercept="-1024", WindowCenter="-600", WindowWidth="1500",
    )


def build_sigmoid_window(path: Path) -> Path:
    return build_native(
        path, _grey_ramp(), "MONOCHROME2", bits_stored=12,
        WindowCenter="2000", WindowWidth="1000", VOILUTFunction="SIGMOID",
    )


def build_voi_lut_sequence(path: Path) -> Path:
    path = build_native(path, _grey_ramp(high=1023), "MONOCHROME2", bits_stored=10)
    ds = pydicom.dcmread(path)
    item = Dataset()
    # 1024 entries from 0, 12-bit output, a gamma curve no window could express.
    item.LUTDescriptor = [1024, 0, 12]
    item["LUTDescriptor"].VR = "US"
    item.LUTData = [int(4095 * (i / 1023) ** 0.5) for i in range(1024)]
    item["LUTData"].VR = "US"
    ds.VOILUTSequence = [item]
    return save(ds, path)


def build_unwindowed_16_bit(path: Path) -> Path:
    return build_native(path, _grey_ramp(high=30000), "MONOCHROME2", bits_stored=16)


def build_palette_16_bit_entries(path: Path) -> Path:
    indices = _grey_ramp(high=255, dtype=np.uint8)
    path = build_native(path, indices, "PALETTE COLOR", bits_stored=8)
    ds = pydicom.dcmread(path)
    ramp = np.arange(256, dtype=np.float64) / 255
    for colour, curve in (("Red", ramp), ("Green", ramp**2), ("Blue", 1 - ramp)):
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, 16])
        ds[f"{colour}PaletteColorLookupTableDescriptor"].VR = "US"
        setattr(ds, f"{colour}PaletteColorLookupTableData", (curve * 65535).astype("<u2").tobytes())
        ds[f"{colour}PaletteColorLookupTableData"].VR = "OW"
    return save(ds, path)


def build_planar_rgb(path: Path) -> Path:
    rgb = moving_pattern(1, 48, 64, colour=True)[0]
    ds = new_dataset()
    ds.set_pixel_data(rgb, "RGB", 8)
    # Planar configuration 1: all red, then all green, then all blue.
    ds.PlanarConfiguration = 1
    ds.PixelData = rgb.transpose(2, 0, 1).tobytes()
    return save(ds, path)


def build_rgb_16_bit_rle(path: Path) -> Path:
    rgb = (moving_pattern(1, 48, 64, colour=True)[0].astype(np.uint16) * 257)
    ds = new_dataset()
    ds.set_pixel_data(rgb, "RGB", 16)
    ds.compress(RLELossless)
    return save(ds, path)


def build_monochrome1_clip(path: Path) -> Path:
    frames = (moving_pattern(6, 40, 48, colour=False).astype(np.uint16) * 16)
    return build_native(path, frames, "MONOCHROME1", bits_stored=12, WindowCenter="2000", WindowWidth="3000", FrameTime="40")


def build_ybr_jpeg_clip(path: Path) -> Path:
    return build_jpeg_clip(path, moving_pattern(5, 48, 64, colour=True))


def build_grey_jpeg_clip(path: Path) -> Path:
    return build_jpeg_clip(
        path, moving_pattern(5, 48, 64, colour=False), SamplesPerPixel=1, PhotometricInterpretation="MONOCHROME2"
    )


BUILT = {
    "MONOCHROME1 with a window": build_monochrome1_windowed,
    "MONOCHROME1 without a window": build_monochrome1_unwindowed,
    "signed, rescaled, 12 of 16 bits": build_signed_rescaled,
    "SIGMOID window": build_sigmoid_window,
    "VOI LUT sequence": build_voi_lut_sequence,
    "16-bit without a window": build_unwindowed_16_bit,
    "PALETTE COLOR with 16-bit entries": build_palette_16_bit_entries,
    "RGB planar configuration 1": build_planar_rgb,
    "16-bit RGB, RLE": build_rgb_16_bit_rle,
    "MONOCHROME1 clip": build_monochrome1_clip,
    "JPEG YBR_FULL_422 clip": build_ybr_jpeg_clip,
    "JPEG MONOCHROME2 clip": build_grey_jpeg_clip,
}


@pytest.mark.parametrize("kind", BUILT)
def test_built_instance_matches_pydicom_reference(kind, tmp_path, out_dir):
    assert_faithful(BUILT[kind](tmp_path / "in.dcm"), out_dir, "img-1")


def test_monochrome1_is_inverted_after_the_window(tmp_path, out_dir):
    path = build_monochrome1_windowed(tmp_path / "in.dcm")
    still = read_jpeg(render_instance(path, out_dir, stem="img-1").media).astype(int)
    ramp = _grey_ramp()
    # Stored values below the window are black before inversion, so white after.
    assert still[ramp < 300].mean() > 250, "low stored values of MONOCHROME1 must show white"
    assert still[ramp > 2100].mean() < 5, "high stored values of MONOCHROME1 must show black"
