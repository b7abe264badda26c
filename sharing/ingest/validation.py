"""Decide whether a file is a DICOM object we can store, and read the attributes the portal indexes.

pydicom reads damaged files leniently (it warns and carries on), which is right for a viewer and
wrong for an archive: a truncated clip stored today is an unplayable clip shared tomorrow. These
checks turn the damage pydicom tolerates into a clear per-file rejection.
"""

from __future__ import annotations

import datetime as dt
import io
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import FileDataset
from pydicom.encaps import parse_basic_offsets, parse_fragments
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian

from anonymizer.errors import AnonymizationError
from anonymizer.io import take_sop_uids_from_meta
from anonymizer.structure import body_is_implicit_vr, check_structure
from anonymizer.video import VideoBitstream, probe_video, video_syntax
from anonymizer.video.bitstream import fragment_spans

from .errors import RejectedFile

PDF_MAGIC = b"%PDF-"
JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# No clinical image is this large in one frame; a header that claims more is hostile or broken,
# and decoding it would try to allocate gigabytes.
MAX_PIXELS_PER_FRAME = 1 << 26  # 67 Mpixel, e.g. 8192 x 8192
MAX_FRAMES = 100_000
# Values larger than this are left in the file while validating (read on demand, chunk by chunk).
DEFER_BYTES = 1024 * 1024

# Warnings pydicom raises while reading a file whose bytes end early or do not parse.
DAMAGE_MARKERS = (
    "end of file",
    "unexpected end",
    "truncated",
    "delimiter",
    "not enough",
    "value length",
)


@dataclass
class DicomSummary:
    """What ingest needs to know about a valid DICOM object."""

    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    study_instance_uid: str
    series_instance_uid: str
    modality: str = ""
    series_number: int | None = None
    series_description: str = ""
    instance_number: int | None = None
    number_of_frames: int = 1
    rows: int | None = None
    columns: int | None = None
    study: dict = field(default_factory=dict)


def sniff_document(path: Path) -> str | None:
    """Return the Document kind of a PDF/JPEG/PNG file, or None."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(PDF_MAGIC):
        return "pdf"
    if head.startswith(JPEG_MAGIC):
        return "jpeg"
    if head.startswith(PNG_MAGIC):
        return "png"
    return None


def read_dataset(path: Path) -> FileDataset:
    """Read a Part 10 file, rejecting anything pydicom could only read by guessing."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            # Large values (pixel data) stay on disk: memory must not follow the object's size.
            ds = pydicom.dcmread(path, defer_size=DEFER_BYTES)
            # Walking every element forces raw values to parse now, inside the checks.
            parse_all_values(ds)
        except InvalidDicomError:
            raise RejectedFile("not a DICOM file (no DICM prefix or file meta information)") from None
        except Exception:  # inside pydicom's reader: a zoo of types on hostile input, all the file's fault
            raise RejectedFile("unreadable DICOM: the file is truncated or malformed") from None
    for warning in caught:
        text = str(warning.message).lower()
        if any(marker in text for marker in DAMAGE_MARKERS):
            raise RejectedFile("the file is truncated or malformed: its data ends before its declared length")
    return ds


def is_deferred(raw) -> bool:
    return isinstance(raw, RawDataElement) and raw.value is None and raw.length != 0


def parse_all_values(ds) -> None:
    """Convert every element, recursing into sequences, except values left on disk (deferred):
    their headers and lengths were checked by check_element_lengths, and pixel data is measured by
    check_pixel_data without reading it."""
    for tag in list(ds.keys()):
        if is_deferred(ds.get_item(tag, keep_deferred=True)):
            continue
        element = ds[tag]
        if element.VR == "SQ":
            for item in element.value or ():
                parse_all_values(item)


def dataset_start(path: Path) -> int:
    """Where the data set begins: after the preamble and the file meta group, however long it says it is."""
    with open(path, "rb") as fh:
        fh.seek(132)
        pydicom.filereader._read_file_meta_info(fh)
        return fh.tell()


def check_element_lengths(path: Path) -> None:
    """Walk every element header before pydicom reads a value.

    pydicom reads an element that claims 0xFFFFFFF0 bytes by asking for all of them at once (a
    4 GiB allocation) and then keeps "whatever is left" without a word. The structural walk shared
    with the anonymizer reads headers only and refuses lengths past their container, cuts, unknown
    VRs and ragged binary values. Files without a readable meta are left to read_dataset to refuse.
    """
    try:
        with open(path, "rb") as fh:
            if fh.read(132)[128:132] != b"DICM":
                return
            meta = pydicom.filereader._read_file_meta_info(fh)
            start = fh.tell()
        transfer_syntax = UID(str(meta.get("TransferSyntaxUID", "")).strip().rstrip("\x00"))
    except Exception:  # a damaged meta group: read_dataset refuses it with its own reason
        return
    if not transfer_syntax.is_transfer_syntax or transfer_syntax == DeflatedExplicitVRLittleEndian:
        return  # unknown syntaxes are refused later; a deflate stream is checked by inflating it
    try:
        with open(path, "rb") as fh:
            # pydicom reads an implicit VR body under an explicit-VR syntax (a known writer bug);
            # the walk follows the encoding the body really has.
            implicit_vr = body_is_implicit_vr(fh, start, declared=transfer_syntax.is_implicit_VR)
            check_structure(fh, start, implicit_vr=implicit_vr, little_endian=transfer_syntax.is_little_endian)
    except AnonymizationError as exc:
        raise RejectedFile(f"the file is truncated or malformed: {exc}") from None
    except OSError:
        raise  # our disk, not the file
    except Exception:  # the walk reads only the file's bytes: what it trips on is damage too
        raise RejectedFile("the file is truncated or malformed: its element structure does not parse") from None


# Attributes the portal computes with: a wrong VR here means the value cannot be trusted.
CHECKED_VRS = (
    "SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "Rows", "Columns",
    "SamplesPerPixel", "BitsAllocated", "BitsStored", "NumberOfFrames", "PixelRepresentation",
)


META_CHECKED_VRS = ("FileMetaInformationGroupLength", "MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID", "TransferSyntaxUID")


def check_vrs(ds, keywords=CHECKED_VRS) -> None:
    """Refuse a file whose key attributes carry another VR than the data dictionary's (UN is fine)."""
    for keyword in keywords:
        if keyword not in ds:
            continue
        try:
            element = ds[keyword]
        except Exception:  # a raw element that does not convert: a VR pydicom does not know, a ragged length
            raise RejectedFile(f"{keyword} is unreadable (wrong VR or length)") from None
        expected = dictionary_VR(element.tag)
        if element.VR != expected and element.VR != "UN" and element.VR not in expected.split(" or "):
            raise RejectedFile(f"{keyword} has the wrong VR {element.VR} (the standard says {expected})")


def parse_uid(ds, keyword: str, *, where: str = "dataset") -> str:
    value = ds.get(keyword)
    if value is None or str(value).strip() == "":
        raise RejectedFile(f"missing {keyword} in the {where}")
    text = str(value).strip().rstrip("\x00")
    if not UID(text).is_valid:
        raise RejectedFile(f"{keyword} is not a valid UID")
    return text


def parse_int(ds, keyword: str, *, default: int | None = None, minimum: int = 0, maximum: int = 2**31) -> int | None:
    element = ds.get(keyword)
    if element is None or element == "":
        return default
    try:
        value = int(element)
    except (TypeError, ValueError):
        raise RejectedFile(f"{keyword} has an invalid value (wrong VR or encoding)") from None
    if not minimum <= value <= maximum:
        raise RejectedFile(f"{keyword} is out of range")
    return value


def parse_da(value) -> dt.date | None:
    text = str(value or "").strip()
    if len(text) < 8:
        return None
    try:
        return dt.date(int(text[0:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def person_names(ds, keyword: str) -> str:
    value = ds.get(keyword)
    if not value:
        return ""
    names = value if isinstance(value, (list, pydicom.multival.MultiValue)) else [value]
    return "; ".join(format_person_name(name) for name in names if str(name).strip())


def format_person_name(name) -> str:
    """'Doe^Jane' -> 'Doe, Jane', the form staff lists show."""
    pn = pydicom.valuerep.PersonName(str(name))
    family, given = (pn.family_name or "").strip(), (pn.given_name or "").strip()
    if family and given:
        return f"{family}, {given}"
    return (family or given or str(name).replace("^", " ")).strip()


def text(ds, keyword: str, limit: int = 200) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, (list, pydicom.multival.MultiValue)):
        value = "\\".join(str(v) for v in value)
    return str(value).strip()[:limit]


def check_pixel_data(ds, transfer_syntax: UID, frames: int) -> None:
    """Reject pixel data whose size disagrees with its header."""
    if "PixelData" not in ds:
        return
    rows = parse_int(ds, "Rows", minimum=1, maximum=65535)
    columns = parse_int(ds, "Columns", minimum=1, maximum=65535)
    if rows is None or columns is None:
        raise RejectedFile("pixel data without Rows and Columns")
    if rows * columns > MAX_PIXELS_PER_FRAME:
        raise RejectedFile(f"declared image size {columns}x{rows} is larger than the portal accepts")
    samples = parse_int(ds, "SamplesPerPixel", default=1, minimum=1, maximum=4)
    bits = parse_int(ds, "BitsAllocated", default=8, minimum=1, maximum=64)
    raw = ds.get_item("PixelData", keep_deferred=True)
    video = video_syntax(transfer_syntax)
    if is_deferred(raw):
        if video is not None:
            check_video(lambda: video_stream_in_file(ds.filename, raw.value_tell), video, rows=rows, columns=columns)
            return
        if transfer_syntax.is_encapsulated:
            with open(ds.filename, "rb") as fh:
                fh.seek(raw.value_tell)
                check_fragments(fh, frames)
            return
        actual = raw.length
    else:
        data = ds.PixelData
        if not data:
            raise RejectedFile("pixel data is empty")  # an empty element reads as None (found by tests/fuzz)
        if video is not None:
            check_video(lambda: VideoBitstream.from_value(data), video, rows=rows, columns=columns)
            return
        if transfer_syntax.is_encapsulated:
            check_fragments(io.BytesIO(data), frames)
            return
        actual = len(data)
    check_native_length(ds, actual, rows=rows, columns=columns, samples=samples, bits=bits, frames=frames)


def check_fragments(buffer, frames: int) -> None:
    """Check encapsulated pixel data (a buffer at its Basic Offset Table) against NumberOfFrames,
    reading item headers only."""
    try:
        offsets = parse_basic_offsets(buffer)
        fragments, _ = parse_fragments(buffer)
    except (ValueError, struct.error):
        raise RejectedFile("encapsulated pixel data is malformed") from None
    if fragments < 1:
        raise RejectedFile("encapsulated pixel data has no fragments")
    if offsets and len(offsets) != frames:
        raise RejectedFile(f"NumberOfFrames ({frames}) disagrees with the pixel data ({len(offsets)} frames)")
    if fragments < frames:
        raise RejectedFile(f"NumberOfFrames ({frames}) disagrees with the pixel data ({fragments} fragments)")


def check_native_length(ds, actual: int, *, rows: int, columns: int, samples: int, bits: int, frames: int) -> None:
    """Native pixel data must hold the frames its header declares, and not a whole frame more."""
    if str(ds.get("PhotometricInterpretation", "")).strip() == "YBR_FULL_422":
        samples = 2  # native 4:2:2 stores two samples per pixel (Y Y Cb Cr per pixel pair)
    frame_bytes = (rows * columns * samples * bits + 7) // 8
    expected = (rows * columns * samples * frames * bits + 7) // 8
    if actual < expected:
        raise RejectedFile(f"pixel data is shorter than its header declares ({actual} < {expected} bytes): truncated, or NumberOfFrames disagrees with the data")
    # Trailing padding is tolerated (some writers pad to a block size); a whole extra frame is not.
    if actual - expected >= frame_bytes:
        raise RejectedFile("pixel data holds more frames than NumberOfFrames declares")


def video_stream_in_file(path, value_offset: int) -> VideoBitstream:
    """The video stream of Pixel Data left on disk (deferred), read without loading it."""
    fh = open(path, "rb")
    try:
        return VideoBitstream(fh, fragment_spans(fh, value_offset))
    except BaseException:
        fh.close()
        raise


def check_video(open_stream, syntax, *, rows: int, columns: int) -> None:
    """Decode the first frame of an MPEG-2, H.264 or HEVC clip and check its size against the header.

    A video holds one stream for all its frames (PS3.5 8.2.5-8.2.10), so the per-frame fragment
    checks do not apply; decoding the first frame proves the stream is what the syntax says.
    """
    try:
        with open_stream() as stream:
            info = probe_video(stream, syntax)
    except AnonymizationError as exc:
        raise RejectedFile(f"the video cannot be played: {exc}") from None
    if (info.width, info.height) != (columns, rows):
        raise RejectedFile(
            f"the video's pictures are {info.width}x{info.height} but Rows and Columns say {columns}x{rows}")


def validate_dicom(path: Path) -> DicomSummary:
    """Validate one Part 10 file and summarise it; raise RejectedFile with the reason otherwise."""
    check_element_lengths(path)
    ds = read_dataset(path)
    meta = ds.file_meta
    # SOP Class and Instance UID only in the file meta: pydicom reads such files, and PS3.10
    # makes the meta's Media Storage UIDs the same values.
    take_sop_uids_from_meta(ds)
    if not meta or "TransferSyntaxUID" not in meta:
        raise RejectedFile("file meta information lacks the TransferSyntaxUID")
    transfer_syntax = UID(parse_uid(meta, "TransferSyntaxUID", where="file meta"))
    if not transfer_syntax.is_transfer_syntax:
        raise RejectedFile("unknown transfer syntax")
    check_vrs(meta, META_CHECKED_VRS)
    check_vrs(ds)
    sop_class = parse_uid(ds, "SOPClassUID")
    frames = parse_int(ds, "NumberOfFrames", default=1, minimum=1, maximum=MAX_FRAMES) or 1
    check_pixel_data(ds, transfer_syntax, frames)
    return DicomSummary(
        sop_instance_uid=parse_uid(ds, "SOPInstanceUID"),
        sop_class_uid=sop_class,
        transfer_syntax_uid=str(transfer_syntax),
        study_instance_uid=parse_uid(ds, "StudyInstanceUID"),
        series_instance_uid=parse_uid(ds, "SeriesInstanceUID"),
        modality=text(ds, "Modality", 16),
        series_number=parse_int(ds, "SeriesNumber", minimum=-(2**31)),
        series_description=text(ds, "SeriesDescription"),
        instance_number=parse_int(ds, "InstanceNumber", minimum=-(2**31)),
        number_of_frames=frames,
        rows=parse_int(ds, "Rows", maximum=65535),
        columns=parse_int(ds, "Columns", maximum=65535),
        study={
            "patient_name": person_names(ds, "PatientName")[:324],
            "patient_id": text(ds, "PatientID", 64),
            "patient_birth_date": parse_da(ds.get("PatientBirthDate")),
            "patient_sex": text(ds, "PatientSex", 16),
            "study_date": parse_da(ds.get("StudyDate")),
            "study_description": text(ds, "StudyDescription"),
            "accession_number": text(ds, "AccessionNumber", 64),
            "sonographers": person_names(ds, "OperatorsName")[:324],
            "performing_physicians": person_names(ds, "PerformingPhysicianName")[:324],
            "referring_physician": person_names(ds, "ReferringPhysicianName")[:324],
            "institution": text(ds, "InstitutionName"),
        },
    )
