"""Fuzz targets for the ingest parser and the anonymizer, shared by the test suite and bench/fuzz_ingest.py.

Inputs are real DICOM files (pydicom's bundled samples and a small ultrasound clip built in code)
damaged the ways files get damaged in the field and by hostile senders: bit flips, truncation,
element lengths rewritten to boundary values, elements removed or duplicated, bytes spliced in.
ZIPs are built from random names and contents and then damaged the same way.

Each `check_*` function states the promise for one input and raises `Broken` when it is not kept:
the ingest parser answers a DicomSummary or RejectedFile, the ZIP reader yields candidates and
never writes outside its temp folder, the anonymizer answers written/discarded/rejected (never
"failed", which is for defects of our code) and never leaves a half-written file. `HARD_TIMEOUT` turns a hang into a failure.
"""

from __future__ import annotations

import contextlib
import io
import signal
import struct
import tempfile
import zipfile
from functools import lru_cache
from pathlib import Path

import pydicom
from hypothesis import strategies as st
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

SEED_FILES = (
    "MR_small.dcm",  # native 16-bit, explicit VR LE
    "CT_small.dcm",
    "MR_small_implicit.dcm",
    "MR_small_bigendian.dcm",
    "image_dfl.dcm",  # deflated
    "JPEG2000.dcm",
    "MR_small_RLE.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "JPEG-lossy.dcm",
    "SC_rgb_rle_2frame.dcm",
    "SC_rgb_small_odd.dcm",
    "SC_jpeg_no_color_transform.dcm",
    "rtplan.dcm",  # no pixels, nested sequences
)

# VRs whose explicit-VR header has two reserved bytes and a 4-byte length (PS3.5 7.1.2).
LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
KNOWN_VRS = LONG_VRS | {
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"PN", b"SH",
    b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US",
}
BOUNDARY_LENGTHS = (0, 1, 2, 3, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFF0, 0xFFFFFFFE, 0xFFFFFFFF)
BOUNDARY_VALUES = (0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0xFFFFFFFF)

# A hang is an example that runs this long; hypothesis's deadline catches the merely slow.
HARD_TIMEOUT = 20.0


class Broken(AssertionError):
    """A promise of the target was not kept."""


class Hang(Broken):
    pass


def us_clip_bytes() -> bytes:
    """A small native RGB ultrasound clip with an ultrasound region, so strict pixel cleaning runs."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["fuzz-us-sop"])
    ds.StudyInstanceUID = generate_uid(entropy_srcs=["fuzz-us-study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["fuzz-us-series"])
    ds.Modality = "US"
    ds.PatientName = "FUZZ^PATIENT"
    ds.PatientID = "FUZZ-1"
    ds.StudyDate = "20240101"
    ds.Manufacturer = "Fuzz"
    ds.Rows, ds.Columns = 16, 24
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.NumberOfFrames = 3
    ds.FrameIncrementPointer = 0x00181063
    ds.FrameTime = 33.3
    region = Dataset()
    region.RegionSpatialFormat = 1
    region.RegionDataType = 1
    region.RegionFlags = 0
    region.RegionLocationMinX0, region.RegionLocationMinY0 = 2, 2
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = 20, 13
    region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = 3
    region.PhysicalDeltaX = region.PhysicalDeltaY = 0.01
    ds.SequenceOfUltrasoundRegions = [region]
    ds.BurnedInAnnotation = "YES"
    ds.PixelData = (bytes(range(256)) * 14)[: 16 * 24 * 3 * 3]
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@lru_cache(maxsize=None)
def seeds() -> tuple[bytes, ...]:
    found = [Path(p).read_bytes() for p in (get_testdata_file(n) for n in SEED_FILES) if p]
    return (us_clip_bytes(), *found)


@lru_cache(maxsize=None)
def element_offsets(seed_index: int) -> tuple[int, ...]:
    """Offsets that look like explicit-VR element headers (a tag, then a known VR), in the first 64 KiB."""
    data = seeds()[seed_index]
    end = min(len(data), 65536) - 8
    return tuple(i for i in range(132, end) if data[i + 4:i + 6] in KNOWN_VRS)


def length_field(data: bytes, offset: int) -> tuple[int, int]:
    """Where an element's length field sits and how wide it is, for the header at `offset`."""
    vr = data[offset + 4:offset + 6]
    if vr in LONG_VRS:
        return offset + 8, 4
    if vr in KNOWN_VRS:
        return offset + 6, 2
    return offset + 4, 4  # implicit VR: the length follows the tag


def next_offset(offsets: tuple[int, ...], offset: int, size: int) -> int:
    later = [o for o in offsets if o > offset]
    return later[0] if later else size


def apply_mutation(data: bytes, offsets: tuple[int, ...], op: tuple) -> bytes:
    """One mutation; `op` is a tuple drawn by `mutations()`; positions wrap around the data."""
    kind = op[0]
    size = len(data)
    if size == 0:
        return data
    if kind == "flip":
        position, bit = op[1] % size, op[2]
        return data[:position] + bytes([data[position] ^ (1 << bit)]) + data[position + 1:]
    if kind == "byte":
        position = op[1] % size
        return data[:position] + bytes([op[2]]) + data[position + 1:]
    if kind == "truncate":
        return data[: op[1] % size]
    if kind == "splice":
        position = op[1] % (size + 1)
        return data[:position] + op[2] + data[position:]
    if kind == "cut":
        start = op[1] % size
        return data[:start] + data[start + op[2]:]
    if not offsets:
        return data
    offset = offsets[op[1] % len(offsets)]
    if offset + 12 > size:
        return data
    if kind == "length":
        where, width = length_field(data, offset)
        value = op[2] & (0xFFFF if width == 2 else 0xFFFFFFFF)
        packed = struct.pack("<H" if width == 2 else "<I", value)
        return data[:where] + packed + data[where + width:]
    if kind == "value":
        # A boundary value written over the start of an element's value: Rows, NumberOfFrames...
        where, width = length_field(data, offset)
        start = where + width
        packed = struct.pack("<I", op[2])
        return data[:start] + packed + data[start + 4:]
    if kind == "vr":
        return data[:offset + 4] + op[2] + data[offset + 6:]
    end = next_offset(offsets, offset, size)
    if kind == "remove":
        return data[:offset] + data[end:]
    if kind == "duplicate":
        return data[:end] + data[offset:end] + data[end:]
    raise ValueError(kind)


def mutations():
    position = st.integers(min_value=0, max_value=2**31)
    return st.one_of(
        st.tuples(st.just("flip"), position, st.integers(0, 7)),
        st.tuples(st.just("byte"), position, st.sampled_from(BOUNDARY_VALUES[:5]) | st.integers(0, 255)),
        st.tuples(st.just("truncate"), position),
        st.tuples(st.just("splice"), position, st.binary(min_size=1, max_size=16)),
        st.tuples(st.just("cut"), position, st.integers(1, 512)),
        st.tuples(st.just("length"), position, st.sampled_from(BOUNDARY_LENGTHS) | st.integers(0, 2**32 - 1)),
        st.tuples(st.just("value"), position, st.sampled_from(BOUNDARY_VALUES)),
        st.tuples(st.just("vr"), position, st.sampled_from(sorted(KNOWN_VRS)) | st.binary(min_size=2, max_size=2)),
        st.tuples(st.just("remove"), position),
        st.tuples(st.just("duplicate"), position),
    )


@st.composite
def damaged_dicom(draw) -> bytes:
    index = draw(st.integers(0, len(seeds()) - 1))
    data = seeds()[index]
    offsets = element_offsets(index)
    for op in draw(st.lists(mutations(), min_size=1, max_size=4)):
        data = apply_mutation(data, offsets, op)
    return data


MEMBER_NAMES = st.one_of(
    st.sampled_from([
        "a.dcm", "dir/b.dcm", "../escape.dcm", "../../etc/passwd", "/abs.dcm", "C:/win.dcm", "C:\\win.dcm",
        "dir\\..\\up.dcm", ".hidden", "__MACOSX/._a.dcm", "dir/", "a/./b.dcm", "a//b.dcm", "", " ", "\u00e9.dcm",
    ]),
    st.text(min_size=0, max_size=40),
)


@st.composite
def damaged_zip(draw) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for _ in range(draw(st.integers(0, 6))):
            name = draw(MEMBER_NAMES) or "x"
            kind = draw(st.sampled_from(["dicom", "bytes", "zeros", "zip"]))
            if kind == "dicom":
                content = seeds()[draw(st.integers(0, len(seeds()) - 1))]
            elif kind == "zeros":
                content = b"\0" * draw(st.integers(0, 2 * 1024 * 1024))  # compresses to a few KiB
            elif kind == "zip":
                content = b"PK\x03\x04" + draw(st.binary(max_size=64))
            else:
                content = draw(st.binary(max_size=256))
            method = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
            info = zipfile.ZipInfo(name.replace("\x00", "_") or "x")
            info.compress_type = method
            if draw(st.booleans()):
                info.flag_bits |= 0x1 if draw(st.integers(0, 9)) == 0 else 0
            try:
                archive.writestr(info, content)
            except (ValueError, UnicodeEncodeError):
                continue
    data = buffer.getvalue()
    for op in draw(st.lists(st.one_of(
        st.tuples(st.just("flip"), st.integers(0, 2**31), st.integers(0, 7)),
        st.tuples(st.just("truncate"), st.integers(0, 2**31)),
        st.tuples(st.just("byte"), st.integers(0, 2**31), st.sampled_from([0, 0xFF])),
    ), max_size=3)):
        data = apply_mutation(data, (), op)
    return data


@contextlib.contextmanager
def hard_timeout(seconds: float = HARD_TIMEOUT):
    """Raise Hang if the block runs longer than `seconds` (main thread only)."""

    def on_alarm(signum, frame):
        raise Hang(f"no answer within {seconds} s (a hang)")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def temp_listing(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def check_validate(data: bytes, workdir: Path) -> str:
    """validate_dicom answers a summary or RejectedFile, and leaves the folder as it found it."""
    from sharing.ingest.errors import RejectedFile
    from sharing.ingest.validation import validate_dicom

    path = workdir / "input.dcm"
    path.write_bytes(data)
    try:
        with hard_timeout():
            summary = validate_dicom(path)
    except RejectedFile as exc:
        return f"rejected: {exc}"
    except Hang:
        raise
    except BaseException as exc:
        raise Broken(f"validate_dicom raised {type(exc).__name__}: {exc}") from exc
    finally:
        path.unlink(missing_ok=True)
    if not summary.sop_instance_uid or summary.number_of_frames < 1:
        raise Broken("an accepted file has no SOP Instance UID or no frames")
    return "accepted"


def check_expand_zip(data: bytes, workdir: Path) -> str:
    """expand_zip yields candidates (never raises), writes only inside the temp folder, and its
    cleanup removes every temp copy."""
    from django.conf import settings

    from sharing.ingest.sources import cleanup, expand_zip, temp_dir

    archive = workdir / "input.zip"
    archive.write_bytes(data)
    temp = temp_dir().resolve()
    before = temp_listing(temp)
    outcomes = []
    try:
        with hard_timeout():
            with cleanup(expand_zip("upload.zip", archive)) as candidates:
                for candidate in candidates:
                    if candidate.path is not None:
                        resolved = candidate.path.resolve()
                        if resolved.parent != temp:
                            raise Broken(f"a ZIP member was written outside the temp folder: {resolved}")
                        if resolved.stat().st_size > settings.MAX_FILE_BYTES:
                            raise Broken("a ZIP member passed the per-file limit")
                        outcomes.append("file")
                    elif not candidate.error:
                        raise Broken("a candidate has neither a file nor a reason")
                    else:
                        outcomes.append("error")
    except Broken:
        raise
    except BaseException as exc:
        raise Broken(f"expand_zip raised {type(exc).__name__}: {exc}") from exc
    finally:
        archive.unlink(missing_ok=True)
    left = temp_listing(temp) - before
    if left:
        raise Broken(f"expand_zip left {len(left)} temp files behind")
    if list(workdir.iterdir()):
        raise Broken("expand_zip wrote into the folder of the archive")
    return ",".join(sorted(set(outcomes))) or "empty"


def check_anonymize(data: bytes, workdir: Path, profile_name: str) -> str:
    """anonymize_file answers written/discarded/rejected; only `written` leaves a file, and that
    file is whole (it parses, and its pixel data is all there)."""
    from anonymizer import anonymize_file, profile_named

    source = workdir / "input.dcm"
    source.write_bytes(data)
    out = workdir / "out"
    out.mkdir()
    try:
        with hard_timeout():
            result = anonymize_file(source, out, profile=profile_named(profile_name), key=b"fuzz-key" * 4)
    except Hang:
        raise
    except BaseException as exc:
        raise Broken(f"anonymize_file({profile_name}) raised {type(exc).__name__}: {exc}") from exc
    finally:
        source.unlink(missing_ok=True)
    try:
        written = sorted(out.iterdir())
        if result.status == "failed":
            # A damaged file is bad input: our code must say why, not fail with a defect.
            raise Broken(f"a damaged file was reported as a defect ({result.reference}), not as bad input")
        if result.status not in ("written", "discarded", "rejected"):
            raise Broken(f"unknown status {result.status!r}")
        if result.status != "written":
            if written:
                raise Broken(f"{result.status} but left {[p.name for p in written]} behind (half-written output)")
            if not result.reason:
                raise Broken(f"{result.status} without a reason")
            return result.status
        if len(written) != 1 or Path(result.output).resolve() != written[0].resolve():
            raise Broken(f"written, but the folder holds {[p.name for p in written]}")
        try:
            with hard_timeout():
                ds = pydicom.dcmread(written[0])
                for _ in ds.iterall():
                    pass
        except Hang:
            raise
        except Exception as exc:
            raise Broken(f"the written file does not parse ({type(exc).__name__}: {exc})") from exc
        return "written"
    finally:
        for path in out.iterdir():
            path.unlink()
        out.rmdir()


@contextlib.contextmanager
def workdir():
    with tempfile.TemporaryDirectory(prefix="fuzz-") as name:
        yield Path(name)


@contextlib.contextmanager
def small_zip_limits(settings_obj):
    """Limits small enough that fuzzed ZIPs reach them (the bomb and entry-count paths)."""
    saved = {k: getattr(settings_obj, k) for k in ("MAX_FILE_BYTES", "MAX_ZIP_EXPANDED_BYTES", "MAX_ZIP_ENTRIES")}
    settings_obj.MAX_FILE_BYTES = 512 * 1024
    settings_obj.MAX_ZIP_EXPANDED_BYTES = 1024 * 1024
    settings_obj.MAX_ZIP_ENTRIES = 4
    try:
        yield
    finally:
        for key, value in saved.items():
            setattr(settings_obj, key, value)


__all__ = [
    "Broken", "Hang", "check_anonymize", "check_expand_zip", "check_validate", "damaged_dicom", "damaged_zip",
    "seeds", "small_zip_limits", "workdir",
]
