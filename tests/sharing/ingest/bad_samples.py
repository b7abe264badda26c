"""Bad inputs built in code from a good ultrasound file: one function per kind of damage."""

from __future__ import annotations

import io
import random
import struct
import zipfile
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, generate_uid

US_IMAGE = "1.2.840.10008.5.1.4.1.1.6.1"
US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"


def native_us(*, rows=32, columns=48, frames=3, pixel_bytes=None, **extra) -> bytes:
    """A small, valid native (uncompressed) monochrome ultrasound clip, as Part 10 bytes."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = US_MULTIFRAME
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality = "US"
    ds.PatientName, ds.PatientID = "BAD^INPUT", "BAD-1"
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.NumberOfFrames = frames
    for keyword, value in extra.items():
        setattr(ds, keyword, value)
    ds.PixelData = pixel_bytes if pixel_bytes is not None else bytes(rows * columns * frames)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def encapsulated_us(*, declared_frames: int, real_frames: int = 3) -> bytes:
    """A JPEG baseline clip holding `real_frames` frames but declaring `declared_frames`."""
    source = pydicom.dcmread(get_testdata_file("examples_ybr_color.dcm"))  # 30-frame JPEG baseline US
    frames = list(pydicom.encaps.generate_frames(source.PixelData, number_of_frames=int(source.NumberOfFrames)))
    source.PixelData = encapsulate(frames[:real_frames])  # no offset table: only the fragments tell
    source.NumberOfFrames = declared_frames
    source.SOPInstanceUID = source.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    assert source.file_meta.TransferSyntaxUID == JPEGBaseline8Bit
    buffer = io.BytesIO()
    source.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def element_header_offset(data: bytes, tag: int, vr: bytes) -> int:
    """Where an explicit-VR element header starts (group, element little endian, then the VR)."""
    needle = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr
    offset = data.find(needle, 132)
    assert offset > 0, f"no ({tag:08X}) {vr!r} in the sample"
    return offset


def random_bytes(size: int = 8192) -> bytes:
    return random.Random(6).randbytes(size)


def truncated() -> bytes:
    whole = native_us(frames=3)
    return whole[: len(whole) - 1000]


def wrong_vr_rows() -> bytes:
    """Rows (US, binary) re-labelled as DS: its two binary bytes become a 'decimal string'."""
    data = native_us()
    offset = element_header_offset(data, 0x00280010, b"US")
    return data[:offset + 4] + b"DS" + data[offset + 6:]


def wrong_vr_not_a_vr() -> bytes:
    """An element whose VR field holds two bytes that are no VR at all."""
    data = native_us()
    offset = element_header_offset(data, 0x00100010, b"PN")  # PatientName
    return data[:offset + 4] + b"\x01\x02" + data[offset + 6:]


def huge_declared_length() -> bytes:
    """Pixel Data's header claims 0xFFFFFFF0 bytes; the file holds a few thousand."""
    data = native_us()
    offset = element_header_offset(data, 0x7FE00010, b"OB")
    return data[:offset + 8] + struct.pack("<I", 0xFFFFFFF0) + data[offset + 12:]


def huge_image() -> bytes:
    """Rows and Columns of 65535 (a 4 GiB frame) over a few bytes of pixel data."""
    return native_us(rows=65535, columns=65535, frames=1, pixel_bytes=bytes(1024))


def frames_more_than_data() -> bytes:
    """NumberOfFrames 10, pixel data for 3 (native)."""
    return _native_frames(declared=10, real=3)


def frames_fewer_than_data() -> bytes:
    """NumberOfFrames 1, pixel data for 3 (native)."""
    return _native_frames(declared=1, real=3)


def _native_frames(*, declared: int, real: int) -> bytes:
    rows, columns = 32, 48
    return native_us(rows=rows, columns=columns, frames=declared, pixel_bytes=bytes(rows * columns * real))


def zip_bytes(members: dict[str, bytes], *, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def zip_bomb(member_bytes: int = 30 * 1024 * 1024, members: int = 3) -> bytes:
    return zip_bytes({f"zeros-{i}.dcm": b"\0" * member_bytes for i in range(members)})


def zip_bomb_lying_sizes(real_bytes: int = 8 * 1024 * 1024) -> bytes:
    """A bomb whose headers declare 100 bytes per member: only the streamed count can catch it."""
    data = bytearray(zip_bytes({"lie.dcm": b"\0" * real_bytes}))
    for signature, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        position = data.find(signature)
        data[position + size_at:position + size_at + 4] = struct.pack("<I", 100)
    return bytes(data)


def nested_zip_bomb() -> bytes:
    inner = zip_bomb(member_bytes=1024 * 1024, members=2)
    return zip_bytes({f"layer-{i}.zip": inner for i in range(3)})


def traversal_zip(good: bytes) -> bytes:
    return zip_bytes({"../../etc/evil.dcm": good, "/abs/evil.dcm": good, "C:\\evil.dcm": good, "ok/good.dcm": good})


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path
