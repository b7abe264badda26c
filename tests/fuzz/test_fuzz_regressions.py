"""Inputs the fuzzer (bench/fuzz_ingest.py) found escaping as crashes, rebuilt in code: each is now a
clear rejection. The comment on each says what escaped before the fix."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from tests.sharing.ingest import bad_samples as samples
from tests.conftest import ROOT
from tests.fuzz.targets import check_anonymize, check_expand_zip, check_validate, small_zip_limits, workdir


def zip_with(name: str, content: bytes, method=zipfile.ZIP_DEFLATED) -> bytearray:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        archive.writestr(name, content)
    return bytearray(buffer.getvalue())


def bad_deflate_stream() -> bytes:
    """zlib.error from the member read (was unhandled in expand_zip)."""
    data = zip_with("a.dcm", b"DICOM " * 2000)
    name_length, extra_length = struct.unpack("<HH", data[26:30])
    start = 30 + name_length + extra_length
    data[start:start + 8] = b"\xff" * 8  # BTYPE 11: an invalid deflate block type
    return bytes(data)


def name_not_utf8(where: str) -> bytes:
    """A name flagged UTF-8 that is not: UnicodeDecodeError in ZipFile() or in open() (was unhandled)."""
    data = zip_with("\u00e9.dcm", b"x" * 10)
    local = data.find(b"PK\x03\x04")
    central = data.find(b"PK\x01\x02")
    if where == "central":
        data[central + 46] = 0xFF
        data[local + 30] = 0xFF
    else:
        data[local + 30] = 0xC3
        data[local + 31] = 0x28  # an invalid continuation byte
    return bytes(data)


def unsupported_version() -> bytes:
    """'version needed to extract' 10.0: NotImplementedError from ZipFile() (was unhandled)."""
    data = zip_with("a.dcm", b"x")
    central = data.find(b"PK\x01\x02")
    data[central + 6:central + 8] = struct.pack("<H", 100)
    return bytes(data)


def empty_member_name() -> bytes:
    """A member with an empty name: IndexError from ZipInfo.is_dir() (was unhandled)."""
    data = zip_with("a", b"x" * 10)
    for signature, length_at, name_at in ((b"PK\x03\x04", 26, 30), (b"PK\x01\x02", 28, 46)):
        position = data.find(signature)
        data[position + length_at:position + length_at + 2] = b"\x00\x00"
        del data[position + name_at]
    end = data.find(b"PK\x05\x06")
    offset = struct.unpack("<I", data[end + 16:end + 20])[0] - 1  # the central directory moved up a byte
    data[end + 16:end + 20] = struct.pack("<I", offset)
    return bytes(data)


ZIP_REGRESSIONS = {
    "bad deflate stream": bad_deflate_stream,
    "name not UTF-8 (central directory)": lambda: name_not_utf8("central"),
    "name not UTF-8 (local header)": lambda: name_not_utf8("local"),
    "unsupported ZIP version": unsupported_version,
    "empty member name": empty_member_name,
}


@pytest.mark.parametrize("case", list(ZIP_REGRESSIONS))
def test_damaged_zip_is_a_per_file_rejection(case, settings):
    with small_zip_limits(settings), workdir() as folder:
        outcome = check_expand_zip(ZIP_REGRESSIONS[case](), folder)
    assert outcome in ("error", "empty"), f"{case}: expected a rejection, got {outcome}"


def meta_group_length_as(vr: bytes, value: bytes) -> bytes:
    """(0002,0000) re-labelled with another VR: TypeError / ValueError / BytesLengthException in the
    anonymizer's read_instance (were unhandled)."""
    data = samples.native_us()
    at = data.find(b"\x02\x00\x00\x00UL", 128)
    return data[:at + 4] + vr + struct.pack("<H", len(value)) + value + data[at + 12:]


def huge_header_element() -> bytes:
    """PatientName re-written as UT claiming 0xFFFFFFF0 bytes: pydicom asks for 4 GiB at once."""
    data = samples.native_us()
    at = samples.element_header_offset(data, 0x00100010, b"PN")
    (length,) = struct.unpack("<H", data[at + 6:at + 8])
    return data[:at + 4] + b"UT\x00\x00" + struct.pack("<I", 0xFFFFFFF0) + data[at + 8:]


def ragged_binary_value() -> bytes:
    """Rows re-labelled FD with 2 bytes: the basic profile wrote a file that did not parse."""
    data = samples.native_us()
    at = samples.element_header_offset(data, 0x00280010, b"US")
    return data[:at + 4] + b"FD" + data[at + 6:]


def corrupt_deflate_dataset() -> bytes:
    """A deflated data set whose stream is garbage: zlib.error in the anonymizer (was unhandled)."""
    from sharing.ingest.validation import dataset_start

    path = Path(get_testdata_file("image_dfl.dcm"))
    data = bytearray(path.read_bytes())
    start = dataset_start(path)
    data[start:start + 16] = b"\xff" * 16
    return bytes(data)


DICOM_REGRESSIONS = {
    "meta group length as PN": lambda: meta_group_length_as(b"PN", b"AB"),
    "meta group length as IS": lambda: meta_group_length_as(b"IS", b"\xff\xff"),
    "meta group length 2 bytes long": lambda: meta_group_length_as(b"UL", b"\x10\x00"),
    "ragged binary value": ragged_binary_value,
    "corrupt deflate stream": corrupt_deflate_dataset,
}
# Crashed only ingest (TypeError: an empty Pixel Data element reads as None); the anonymizer copies it.
INGEST_REGRESSIONS = {**DICOM_REGRESSIONS, "empty pixel data": lambda: samples.native_us(pixel_bytes=b"")}


@pytest.mark.parametrize("profile", ["strict", "basic"])
@pytest.mark.parametrize("case", list(DICOM_REGRESSIONS))
def test_damaged_dicom_is_rejected_by_the_anonymizer(case, profile):
    with workdir() as folder:
        outcome = check_anonymize(DICOM_REGRESSIONS[case](), folder, profile)
    assert outcome == "rejected", f"{case}: the {profile} profile answered {outcome}"


@pytest.mark.parametrize("case", list(INGEST_REGRESSIONS))
def test_damaged_dicom_is_rejected_by_ingest(case):
    with workdir() as folder:
        outcome = check_validate(INGEST_REGRESSIONS[case](), folder)
    assert outcome.startswith("rejected"), f"{case}: ingest answered {outcome}"


def test_ingest_refuses_a_huge_element_without_allocating_it(tmp_path):
    from sharing.ingest.errors import RejectedFile
    from sharing.ingest.validation import validate_dicom

    path = tmp_path / "huge.dcm"
    path.write_bytes(huge_header_element())
    tracemalloc.start()
    try:
        with pytest.raises(RejectedFile, match="declares 4294967280 bytes"):
            validate_dicom(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 * 1024 * 1024, f"validation allocated {peak} bytes for a header that lies"


def test_anonymizer_rejects_a_huge_element_under_a_memory_cap(tmp_path):
    """Under a 2 GiB address-space cap (as the fuzzer runs), the 4 GiB read is a MemoryError, which
    escaped anonymize_file before; it must be a rejection."""
    path = tmp_path / "huge.dcm"
    path.write_bytes(huge_header_element())
    script = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30));"
        "from anonymizer import anonymize_file, profile_named;"
        f"r = anonymize_file({str(path)!r}, {str(tmp_path)!r}, profile=profile_named('basic'), key=b'k' * 32);"
        "print(r.status)"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "rejected"


def meta_sop_class_as(vr: bytes) -> bytes:
    """MediaStorageSOPClassUID re-labelled: converting the raw meta element raised out of validate_dicom
    (NotImplementedError for an unknown VR, BytesLengthException for FD) after the VR check was added."""
    data = samples.native_us()
    at = data.find(b"\x02\x00\x02\x00UI", 128)
    return data[:at + 4] + vr + data[at + 6:]


@pytest.mark.parametrize("vr", [b"U\xc9", b"FD"], ids=["unknown VR", "FD"])
def test_meta_element_that_does_not_convert_is_rejected_by_ingest(vr):
    with workdir() as folder:
        outcome = check_validate(meta_sop_class_as(vr), folder)
    assert outcome.startswith("rejected"), outcome
