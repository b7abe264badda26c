"""Datasets built in code for the anonymizer's tests.

The marker fixture sets every concrete attribute of PS3.15 Table E.1-1 to a
recognisable marker value that is valid for its VR, again nested inside
sequences (a kept one, a walked one, a private one), and adds private
blocks, an overlay and a curve and markers in the file meta.  After strict
or basic de-identification no marker may remain anywhere.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit

from anonymizer.table_e1_1 import ROWS

KEY = b"test-key-one"
OTHER_KEY = b"test-key-two"
MARKER_UID_ROOT = "1.2.826.0.1.3680043.10.999"
MARKER_DATE = "19870615"
MARKER_TIME = "131313"
MARKER_DATETIME = "19870615131313"
MARKER_AGE = "077Y"
MARKER_NUMBER = 54321  # binary integers: found by value
MARKER_NUMBER_TEXT = "98765431"  # IS and DS: found as a substring
# Every string that betrays a marker in the bytes of a file.
MARKER_BYTES = (b"ZQ", MARKER_UID_ROOT.encode(), MARKER_DATE.encode(), MARKER_TIME.encode(), MARKER_AGE.encode(),
                MARKER_NUMBER_TEXT.encode())
ULTRASOUND_IMAGE = "1.2.840.10008.5.1.4.1.1.6.1"
ULTRASOUND_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"

CONCRETE_ROWS = [row for row in ROWS if row[1] == 0xFFFFFFFF]


def marker_value(tag: int, vr: str, serial: int):
    """A marker value for ``tag``, valid for ``vr``."""
    vr = vr.split(" ")[0]
    text = f"ZQ{tag:08X}"
    return {
        "AE": text, "CS": text, "SH": text, "LO": text, "LT": text, "ST": text, "UT": text, "UC": text,
        "PN": f"ZQFAMILY{serial}^ZQGIVEN", "DA": MARKER_DATE, "DT": MARKER_DATETIME, "TM": MARKER_TIME,
        "AS": MARKER_AGE, "DS": MARKER_NUMBER_TEXT, "IS": MARKER_NUMBER_TEXT, "UI": f"{MARKER_UID_ROOT}.{serial}",
        "UR": f"http://zq.example/ZQ{serial}", "US": MARKER_NUMBER, "UL": MARKER_NUMBER, "SS": MARKER_NUMBER,
        "SL": MARKER_NUMBER, "FL": float(MARKER_NUMBER), "FD": float(MARKER_NUMBER),
        "OB": b"ZQBYTES!", "UN": b"ZQBYTES!", "OW": b"ZQBYTES!",
    }[vr]


def small_item(serial: int) -> Dataset:
    """What goes inside a table row's own sequence: a name, an ID, a UID and a date."""
    item = Dataset()
    item.PatientName = f"ZQINNER{serial}^ZQ"
    item.PatientID = f"ZQID{serial}"
    item.ReferencedSOPInstanceUID = f"{MARKER_UID_ROOT}.9{serial}"
    item.StudyDate = MARKER_DATE
    return item


def add_table_markers(ds: Dataset, *, serial_base: int, with_meta_group: bool) -> None:
    """Set every concrete Table E.1-1 attribute of ``ds`` to a marker."""
    for serial, (tag, _mask, _name, _basic, _options) in enumerate(CONCRETE_ROWS, start=serial_base):
        group = tag >> 16
        if group == 0x0002 or (group == 0x0000 and not with_meta_group):
            continue
        vr = dictionary_VR(tag)
        if vr == "SQ":
            ds.add_new(tag, "SQ", Sequence([small_item(serial)]))
        else:
            ds.add_new(tag, vr.split(" ")[0], marker_value(tag, vr, serial))


def add_private_overlay_curve(ds: Dataset) -> None:
    """Private blocks (one with a private sequence), an overlay plane and a curve."""
    ds.add_new(0x00090010, "LO", "ZQ CREATOR")
    ds.add_new(0x00091001, "LO", "ZQPRIVATE")
    inner = Dataset()
    inner.PatientName = "ZQPRIVSEQ^NAME"
    inner.add_new(0x00110010, "LO", "ZQ INNER CREATOR")
    inner.add_new(0x00111001, "SH", "ZQINNERPRIV")
    ds.add_new(0x00091002, "SQ", Sequence([inner]))
    ds.add_new(0x00190010, "LO", "SIEMENS MR HEADER")
    ds.add_new(0x0019100C, "IS", "1000")  # B_value: a safe private attribute
    ds.add_new(0x00191099, "LO", "ZQUNSAFE")
    ds.add_new(0x60000010, "US", 8)
    ds.add_new(0x60000011, "US", 8)
    ds.add_new(0x60000022, "LO", "ZQOVERLAYDESC")
    ds.add_new(0x60000040, "CS", "G")
    ds.add_new(0x60000050, "SS", [1, 1])
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60000102, "US", 0)
    ds.add_new(0x60003000, "OW", b"ZQOVERLY")
    ds.add_new(0x60004000, "LT", "ZQOVERLAYCOMMENT")
    ds.add_new(0x50003000, "OB", b"ZQCURVE!")


def image_basics(ds: Dataset, *, rows: int = 16, columns: int = 16) -> None:
    """A small native MONOCHROME2 ultrasound image with one region covering the middle."""
    ds.SOPClassUID = ULTRASOUND_IMAGE
    ds.Modality = "US"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = (np.arange(rows * columns, dtype=np.uint16) % 200 + 50).astype(np.uint8).tobytes()


def region(x0: int, y0: int, x1: int, y1: int) -> Dataset:
    item = Dataset()
    item.RegionSpatialFormat = 1
    item.RegionDataType = 1
    item.RegionFlags = 0
    item.RegionLocationMinX0, item.RegionLocationMinY0 = x0, y0
    item.RegionLocationMaxX1, item.RegionLocationMaxY1 = x1, y1
    item.PhysicalUnitsXDirection = item.PhysicalUnitsYDirection = 3
    item.PhysicalDeltaX = item.PhysicalDeltaY = 0.01
    return item


def marker_meta() -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ULTRASOUND_IMAGE
    meta.MediaStorageSOPInstanceUID = f"{MARKER_UID_ROOT}.77777"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = f"{MARKER_UID_ROOT}.1"
    meta.ImplementationVersionName = "ZQMETA"
    meta.SourceApplicationEntityTitle = "ZQMETAAE"
    meta.PrivateInformationCreatorUID = f"{MARKER_UID_ROOT}.2"
    meta.PrivateInformation = b"ZQMETAPRIV"
    return meta


def build_marker_dataset(*, with_command_group: bool = False) -> Dataset:
    """The full marker fixture (see the module docstring)."""
    ds = Dataset()
    add_table_markers(ds, serial_base=1000, with_meta_group=with_command_group)
    kept_region = region(2, 2, 13, 13)
    add_table_markers(kept_region, serial_base=2000, with_meta_group=False)
    walked_reference = Dataset()
    add_table_markers(walked_reference, serial_base=3000, with_meta_group=False)
    private_item = Dataset()
    add_table_markers(private_item, serial_base=4000, with_meta_group=False)
    ds.SequenceOfUltrasoundRegions = Sequence([kept_region])
    ds.ReferencedImageSequence = Sequence([walked_reference])
    ds.add_new(0x00290010, "LO", "ZQ NESTING CREATOR")
    ds.add_new(0x00291001, "SQ", Sequence([private_item]))
    add_private_overlay_curve(ds)
    image_basics(ds)
    ds.SOPInstanceUID = f"{MARKER_UID_ROOT}.77777"
    ds.file_meta = marker_meta()
    return ds


def write_dataset(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


def all_values(ds: Dataset):
    """Yield ``(tag, value)`` for every element at every depth, file meta included."""
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        for element in meta:
            yield element.tag, element.value
    yield from _values(ds)


def _values(ds: Dataset):
    for element in ds:
        if element.VR == "SQ":
            for item in element.value:
                yield from _values(item)
        else:
            yield element.tag, element.value


def surviving_markers(path: Path) -> list[str]:
    """Every marker found in the written file: its raw bytes, then its values."""
    raw = path.read_bytes()
    found = [marker.decode() for marker in MARKER_BYTES if marker in raw]
    ds = pydicom.dcmread(path)
    for tag, value in all_values(ds):
        values = value if isinstance(value, (list, tuple, pydicom.multival.MultiValue)) else [value]
        for v in values:
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v == MARKER_NUMBER:
                found.append(f"{tag}={v}")
            elif isinstance(v, str) and any(m in v for m in (MARKER_NUMBER_TEXT, MARKER_UID_ROOT, "ZQ")):
                found.append(f"{tag}={v}")
    return found


def jpeg_clip(frames: int, *, rows: int = 480, columns: int = 640, quality: int = 90, static_overlay: bool = False) -> Dataset:
    """A JPEG Baseline (YBR_FULL_422) ultrasound cine built in code.

    Each frame has a bright text-like banner on top, a gradient scan area
    and frame-dependent speckle, encoded by Pillow into one fragment. By default every frame is
    also a little brighter than the last, so the bright layer changes in every frame; with
    ``static_overlay`` only the darker scan content moves, as in a real loop whose printed text
    stays put.
    """
    rng = np.random.default_rng(7)
    fragments = []
    base = np.linspace(30, 220, columns, dtype=np.float32)[None, :, None].repeat(rows, 0).repeat(3, 2)
    for index in range(frames):
        frame = base + rng.normal(0, 12, (rows, columns, 1)).astype(np.float32)
        if static_overlay:
            frame = np.clip(frame * 0.6 + index % 20, 0, 150)  # moving scan content, below the text layer
        else:
            frame = frame + index
        frame[:40, 20:300] = 255  # the banner with the "patient name"
        frame = np.clip(frame, 0, 255).astype(np.uint8)
        out = io.BytesIO()
        Image.fromarray(frame, "RGB").save(out, "JPEG", quality=quality, subsampling=1)
        fragments.append(out.getvalue())
    ds = Dataset()
    ds.SOPClassUID = ULTRASOUND_MULTIFRAME
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.StudyInstanceUID = pydicom.uid.generate_uid()
    ds.SeriesInstanceUID = pydicom.uid.generate_uid()
    ds.Modality = "US"
    ds.PatientName = "ZQCLIP^PATIENT"
    ds.PatientID = "ZQCLIP"
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.NumberOfFrames = frames
    ds.FrameTime = 33.3
    ds.FrameIncrementPointer = 0x00181063
    ds.SequenceOfUltrasoundRegions = Sequence([region(columns // 10, rows // 8, columns - columns // 10 - 1, rows - rows // 12 - 1)])
    ds.PixelData = encapsulate(fragments, has_bot=True)
    ds["PixelData"].VR = "OB"
    ds.LossyImageCompression = "01"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.file_meta = meta
    return ds


def keyword(tag: int) -> str:
    return keyword_for_tag(tag) or f"{tag:08X}"
