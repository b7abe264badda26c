"""Ultrasound files built in code, one per encoding a scanner may send.

Each sample is a small image (or a two-frame clip) with one ultrasound region
in the middle and a bright "banner" above it, written in one of the encodings
issue 10 lists: implicit VR, big endian (8-bit pixels in OW words too),
deflated, palette colour with 8- and 16-bit indices, YBR_FULL_422, YBR_RCT,
YBR_ICT, JPEG-LS, JPEG 2000, HTJ2K, RLE and planar configuration 1.

Every sample knows its *truth*: the RGB colours (or grey values) a correct
decoder must show, computed here from the arrays it was built from, never
from the decoder under test.  Compressed samples are encoded by pydicom's
own encoders or by imagecodecs (CharLS for JPEG-LS, OpenJPH for HTJ2K).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels import convert_color_space
from pydicom.sequence import Sequence
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    ImplicitVRLittleEndian,
    JPEG2000,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

ULTRASOUND_IMAGE = "1.2.840.10008.5.1.4.1.1.6.1"
ULTRASOUND_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"
ROWS, COLUMNS = 32, 40
# The region kept by the strict profile (inclusive bounds, like the attribute).
REGION = (6, 8, 33, 27)  # x0, y0, x1, y1
MARKER_NAME = "ZQDEVICE^PATIENT"


@dataclass(frozen=True)
class DeviceSample:
    """One encoding to build.

    Attributes
    ----------
    name : str
        Test id, e.g. ``"implicit-palette16"``.
    syntax : UID
        Transfer syntax of the file.
    photometric : str
        PhotometricInterpretation as stored.
    bits : int
        BitsAllocated of the stored samples (8 or 16).
    frames : int
        Number of frames.
    planar : int
        PlanarConfiguration for native colour.
    lossless : bool
        Whether decoded pixels must equal the truth exactly.
    segmented : bool
        Palette stored as Segmented Palette Color LUT Data.
    """

    name: str
    syntax: UID
    photometric: str
    bits: int = 8
    frames: int = 1
    planar: int = 0
    lossless: bool = True
    segmented: bool = False

    @property
    def is_palette(self) -> bool:
        return self.photometric == "PALETTE COLOR"

    @property
    def is_colour(self) -> bool:
        return self.photometric not in ("MONOCHROME2", "PALETTE COLOR")


SAMPLES = [
    # The Aloka SSD-4000 case and its relatives: palette colour in every native encoding.
    DeviceSample("implicit-palette16-segmented", ImplicitVRLittleEndian, "PALETTE COLOR", bits=16, segmented=True),
    DeviceSample("implicit-palette16", ImplicitVRLittleEndian, "PALETTE COLOR", bits=16),
    DeviceSample("implicit-palette8", ImplicitVRLittleEndian, "PALETTE COLOR", bits=8),
    DeviceSample("bigendian-palette8-ow", ExplicitVRBigEndian, "PALETTE COLOR", bits=8),
    DeviceSample("bigendian-palette16", ExplicitVRBigEndian, "PALETTE COLOR", bits=16),
    DeviceSample("bigendian-palette8-segmented", ExplicitVRBigEndian, "PALETTE COLOR", bits=8, segmented=True),
    DeviceSample("bigendian-mono16", ExplicitVRBigEndian, "MONOCHROME2", bits=16),
    DeviceSample("bigendian-rgb-ow", ExplicitVRBigEndian, "RGB", bits=8),
    DeviceSample("deflated-palette8", DeflatedExplicitVRLittleEndian, "PALETTE COLOR", bits=8),
    DeviceSample("explicit-palette16-clip", ExplicitVRLittleEndian, "PALETTE COLOR", bits=16, frames=2),
    DeviceSample("native-ybr-full-422", ExplicitVRLittleEndian, "YBR_FULL_422"),
    DeviceSample("native-rgb-planar1", ExplicitVRLittleEndian, "RGB", planar=1),
    DeviceSample("implicit-rgb-planar1-clip", ImplicitVRLittleEndian, "RGB", planar=1, frames=2),
    DeviceSample("rle-rgb", RLELossless, "RGB"),
    DeviceSample("rle-palette8", RLELossless, "PALETTE COLOR", bits=8),
    DeviceSample("j2k-ybr-rct", JPEG2000Lossless, "YBR_RCT"),
    DeviceSample("j2k-ybr-ict", JPEG2000, "YBR_ICT", lossless=False),
    DeviceSample("j2k-mono16", JPEG2000Lossless, "MONOCHROME2", bits=16),
    DeviceSample("jpegls-rgb", JPEGLSLossless, "RGB"),
    DeviceSample("jpegls-palette8", JPEGLSLossless, "PALETTE COLOR", bits=8),
    DeviceSample("htj2k-rgb", HTJ2KLossless, "RGB"),
    DeviceSample("htj2k-mono16", HTJ2KLossless, "MONOCHROME2", bits=16),
]


# Each palette channel falls linearly from its value at index 0 to 0 at the black entry, then
# rises linearly to its value at the last index: integer steps, so a segmented encoding of the
# same table (PS3.3 C.7.9.2) expands to exactly these values.
PALETTE_SLOPES = {256: ((257, 257), (600, 300), (100, 380)), 4096: ((16, 24), (40, 10), (8, 20))}


def palette_tables(entries: int) -> np.ndarray:
    """A 16-bit-per-entry palette, ``(entries, 3)``; its one black entry is not index 0."""
    black = entries // 3
    index = np.arange(entries)
    channels = []
    for down, up in PALETTE_SLOPES[entries]:
        channels.append(np.where(index <= black, (black - index) * down, (index - black) * up))
    return np.stack(channels, axis=-1).astype(np.uint16)


def segmented_palette(entries: int, channel: int) -> list[int]:
    """The same channel as segments: a discrete first value, then two linear segments."""
    black = entries // 3
    table = palette_tables(entries)[:, channel]
    return [0, 1, int(table[0]), 1, black, 0, 1, entries - 1 - black, int(table[-1])]


def palette_entries(sample: DeviceSample) -> int:
    return 256 if sample.bits == 8 else 4096


def darkest_entry(sample: DeviceSample) -> int:
    return palette_entries(sample) // 3


def stored_values(sample: DeviceSample) -> np.ndarray:
    """The pixel values as the file means them: ``(frames, rows, columns[, 3])``."""
    rng = np.random.default_rng(abs(hash(sample.name)) % 2**32)
    y, x = np.mgrid[0:ROWS, 0:COLUMNS]
    frames = []
    for index in range(sample.frames):
        if sample.is_palette:
            top = palette_entries(sample)
            values = (x * 37 + y * 11 + index * 5) % top
            values[values == darkest_entry(sample)] += 1  # the scan area never shows the black entry
            values[:3, :] = top - 1  # the banner: "burned-in text"
        elif sample.is_colour:
            values = np.stack([(x * 6 + index) % 256, (y * 8) % 256, ((x + y) * 3) % 256], axis=-1)
            values = values + rng.integers(0, 4, values.shape)
            values[:3, :] = 250
        else:
            top = 2 ** sample.bits - 1
            values = (x * 97 + y * 311 + index * 13) % top
            values[:3, :] = top
        frames.append(values)
    dtype = np.uint16 if sample.bits == 16 else np.uint8
    return np.clip(np.stack(frames), 0, 2 ** sample.bits - 1).astype(dtype)


def truth_display(sample: DeviceSample, values: np.ndarray) -> np.ndarray:
    """What a correct viewer shows for ``values``: RGB in 0..255 (grey for monochrome)."""
    if sample.is_palette:
        return palette_tables(palette_entries(sample))[values] / 257.0
    if sample.photometric == "MONOCHROME2":
        return values / (2 ** sample.bits - 1) * 255.0
    return values.astype(np.float64)


def keep_mask() -> np.ndarray:
    """True inside the ultrasound region (what the strict profile keeps)."""
    x0, y0, x1, y1 = REGION
    mask = np.zeros((ROWS, COLUMNS), dtype=bool)
    mask[y0:y1 + 1, x0:x1 + 1] = True
    return mask


def build_sample(sample: DeviceSample, path: Path) -> Path:
    """Write ``sample`` to ``path`` and return it."""
    values = stored_values(sample)
    ds = _header(sample)
    if sample.syntax.is_compressed:
        _compress(ds, sample, values)
    else:
        ds.PixelData = _native_bytes(sample, values)
        ds["PixelData"].VR = "OW" if sample.bits == 16 or sample.syntax == ExplicitVRBigEndian else "OB"
    little_endian = sample.syntax != ExplicitVRBigEndian
    if sample.is_palette:
        _add_palette(ds, sample, little_endian=little_endian)
    ds.save_as(path, enforce_file_format=True)
    return path


def _header(sample: DeviceSample) -> Dataset:
    ds = Dataset()
    multiframe = sample.frames > 1
    ds.SOPClassUID = ULTRASOUND_MULTIFRAME if multiframe else ULTRASOUND_IMAGE
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "US"
    ds.PatientName = MARKER_NAME
    ds.PatientID = "ZQ-4711"
    ds.Manufacturer = "ALOKA" if sample.is_palette else "ZQ VENDOR"
    ds.SamplesPerPixel = 3 if sample.is_colour else 1
    ds.PhotometricInterpretation = sample.photometric
    if sample.is_colour:
        ds.PlanarConfiguration = sample.planar
    ds.Rows, ds.Columns = ROWS, COLUMNS
    stored = 12 if sample.bits == 16 and sample.is_palette else sample.bits
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = sample.bits, stored, stored - 1, 0
    if sample.bits == 16 and not sample.is_palette:
        ds.BitsStored, ds.HighBit = 16, 15
    if multiframe:
        ds.NumberOfFrames = sample.frames
        ds.FrameTime = 40.0
        ds.FrameIncrementPointer = 0x00181063
    item = Dataset()
    item.RegionSpatialFormat, item.RegionDataType, item.RegionFlags = 1, 1, 0
    x0, y0, x1, y1 = REGION
    item.RegionLocationMinX0, item.RegionLocationMinY0 = x0, y0
    item.RegionLocationMaxX1, item.RegionLocationMaxY1 = x1, y1
    item.PhysicalUnitsXDirection = item.PhysicalUnitsYDirection = 3
    item.PhysicalDeltaX = item.PhysicalDeltaY = 0.01
    ds.SequenceOfUltrasoundRegions = Sequence([item])
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = sample.syntax
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def _native_bytes(sample: DeviceSample, values: np.ndarray) -> bytes:
    if sample.photometric == "YBR_FULL_422":
        return _ybr_full_422_bytes(values)
    if sample.is_colour and sample.planar == 1:
        values = np.ascontiguousarray(np.moveaxis(values, -1, 1))  # frame, sample, row, column
    if sample.syntax != ExplicitVRBigEndian:
        return values.astype(values.dtype.newbyteorder("<")).tobytes()
    if sample.bits == 16:
        return values.astype(">u2").tobytes()
    # PS3.5 7.3 / A.2: 8-bit pixels in OW, big endian: each 16-bit word is byte-swapped.
    raw = values.tobytes()
    raw += b"\x00" * (len(raw) % 2)
    return np.frombuffer(raw, dtype="<u2").astype(">u2").tobytes()


def _ybr_full_422_bytes(values: np.ndarray) -> bytes:
    """YBR_FULL_422 native: Y0 Y1 Cb Cr per pair of pixels (PS3.3 C.7.6.3.1.2)."""
    out = []
    for frame in values:
        ybr = convert_color_space(frame.astype(np.uint8), "RGB", "YBR_FULL")
        pairs = ybr.reshape(ROWS, COLUMNS // 2, 2, 3)
        cb = np.rint(pairs[..., 1].mean(axis=-1)).astype(np.uint8)
        cr = np.rint(pairs[..., 2].mean(axis=-1)).astype(np.uint8)
        packed = np.stack([pairs[..., 0, 0], pairs[..., 1, 0], cb, cr], axis=-1)
        out.append(packed.tobytes())
    return b"".join(out)


def _add_palette(ds: Dataset, sample: DeviceSample, *, little_endian: bool) -> None:
    entries = palette_entries(sample)
    table = palette_tables(entries)
    dtype = "<u2" if little_endian else ">u2"
    for index, colour in enumerate(("Red", "Green", "Blue")):
        descriptor = f"{colour}PaletteColorLookupTableDescriptor"
        setattr(ds, descriptor, [entries if entries < 65536 else 0, 0, 16])
        ds[descriptor].VR = "US"
        if sample.segmented:
            data = np.array(segmented_palette(entries, index), dtype=dtype).tobytes()
            keyword = f"Segmented{colour}PaletteColorLookupTableData"
        else:
            data = table[:, index].astype(dtype).tobytes()
            keyword = f"{colour}PaletteColorLookupTableData"
        setattr(ds, keyword, data)
        ds[keyword].VR = "OW"


def _compress(ds: Dataset, sample: DeviceSample, values: np.ndarray) -> None:
    frames = [values[i] for i in range(sample.frames)]
    if sample.syntax == RLELossless:
        from pydicom.pixels.encoders import RLELosslessEncoder

        fragments = [RLELosslessEncoder.encode(f, **_encode_args(sample)) for f in frames]
    elif sample.syntax in (JPEG2000Lossless, JPEG2000):
        from pydicom.pixels.encoders import JPEG2000Encoder, JPEG2000LosslessEncoder

        encoder = JPEG2000LosslessEncoder if sample.lossless else JPEG2000Encoder
        extra = {} if sample.lossless else {"j2k_psnr": [45.0]}
        fragments = [encoder.encode(f, **_encode_args(sample), **extra) for f in frames]
    elif sample.syntax == JPEGLSLossless:
        import imagecodecs

        fragments = [imagecodecs.jpegls_encode(f, level=0) for f in frames]
    elif sample.syntax == HTJ2KLossless:
        import imagecodecs

        fragments = [imagecodecs.htj2k_encode(f, level=0) for f in frames]
    else:  # pragma: no cover - a sample list typo
        raise ValueError(sample.syntax)
    ds.PixelData = encapsulate(fragments, has_bot=sample.frames > 1)
    ds["PixelData"].VR = "OB"
    if not sample.lossless:
        ds.LossyImageCompression = "01"


def _encode_args(sample: DeviceSample) -> dict:
    return {
        "rows": ROWS, "columns": COLUMNS, "samples_per_pixel": 3 if sample.is_colour else 1,
        "bits_allocated": sample.bits, "bits_stored": 12 if sample.bits == 16 and sample.is_palette else sample.bits,
        "pixel_representation": 0, "photometric_interpretation": sample.photometric,
        "number_of_frames": 1, "planar_configuration": 0,
    }
