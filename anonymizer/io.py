"""Reading sources safely and writing results atomically.

Reading stops before Pixel Data: the header is parsed by pydicom, the pixel
element is only located (:mod:`.pixels.stream`), so a header-only profile
copies the pixels byte for byte without decoding or holding them.

Writing goes to a temporary file in the destination folder and is renamed
over the destination only once complete, so a partly anonymized file is
never visible under the final name, and nothing is left behind on error.
"""

from __future__ import annotations

import filecmp
import itertools
import os
import struct
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID

from .defects import library_words
from .errors import AnonymizationError
from .pixels.stream import PixelElement, locate_pixel_element
from .structure import KNOWN_VRS, body_is_implicit_vr, check_structure

# Identifies files written by this package (file meta, PS3.10 7.1).
IMPLEMENTATION_CLASS_UID = "2.25.57621774961789039613359831097134383887"  # uuid5(URL, "portal-anonymizer")
IMPLEMENTATION_VERSION_NAME = "PORTAL_ANON_1"
DEFLATED = "1.2.840.10008.1.2.1.99"
MEDIA_DIRECTORY_CLASS = "1.2.840.10008.1.3.10"


class NotDicomFile(Exception):
    """The file is not DICOM at all (a JPEG, a PDF, a text file ...): discarded, not an error."""


@dataclass
class SourceInstance:
    """A parsed source file.

    Attributes
    ----------
    path : str
        Where it was read from.
    dataset : Dataset
        The header, with ``file_meta``; Pixel Data is *not* in it unless the
        source had to be read whole (deflated).
    transfer_syntax : UID
        From the file meta.
    pixels : PixelElement | None
        Where Pixel Data sits in the file, for streaming.
    body_implicit_vr : bool
        The data set is implicit VR although the syntax says explicit (a
        writer bug pydicom reads).
    """

    path: str
    dataset: Dataset
    transfer_syntax: UID
    pixels: PixelElement | None
    body_implicit_vr: bool = False

    @property
    def has_pixels(self) -> bool:
        return self.pixels is not None or "PixelData" in self.dataset


def read_instance(path: str | os.PathLike) -> SourceInstance:
    """Read a DICOM Part 10 file's header and locate its pixels.

    Raises
    ------
    NotDicomFile
        Not DICOM at all.
    AnonymizationError
        DICOM, but unusable: no file meta, truncated, malformed.
    """
    path = os.fspath(path)
    try:
        fp = open(path, "rb")
    except OSError as exc:
        raise AnonymizationError(f"cannot open: {exc.strerror}") from exc
    with fp:
        preamble = fp.read(132)
        if len(preamble) < 132 or preamble[128:132] != b"DICM":
            if _looks_like_bare_dataset(preamble):
                raise AnonymizationError(
                    "missing file meta information: no 'DICM' preamble, so the transfer syntax is unknown")
            raise NotDicomFile("not a DICOM file")
        fp.seek(0)
        try:
            with warnings.catch_warnings():
                # pydicom warns when the body's VR encoding differs from the syntax, and reads it
                # anyway: so do we (below, the walk follows the bytes as pydicom does).
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(fp, stop_before_pixels=True)
            meta = _read_meta(ds)
            take_sop_uids_from_meta(ds)
        except AnonymizationError:
            raise
        except Exception as exc:  # inside pydicom's reader, or the meta's values: the input does not parse
            raise AnonymizationError(f"unreadable DICOM header: {_parser_words(exc)}") from exc
        syntax, meta_length, media_class = meta
        if syntax == MEDIA_DIRECTORY_CLASS or media_class == MEDIA_DIRECTORY_CLASS:
            raise NotDicomFile("a DICOMDIR media index, not an instance")
        if syntax == DEFLATED:
            fp.seek(0)
            try:
                whole = pydicom.dcmread(fp)
            except Exception as exc:  # inside pydicom's reader and zlib: deflate errors come in many types
                raise AnonymizationError(f"unreadable deflated DICOM: {_parser_words(exc)}") from exc
            take_sop_uids_from_meta(whole)
            return SourceInstance(path, whole, syntax, None)
        if not syntax.is_transfer_syntax:
            raise AnonymizationError(f"unknown transfer syntax {syntax}")
        pixel_position = fp.tell()
        # What pydicom found the body to be: an explicit-VR syntax over an implicit-VR body is a
        # known writer bug that pydicom reads (with a warning); the walk follows the same bytes.
        start = 132 + 12 + meta_length
        implicit_vr = body_is_implicit_vr(fp, start, declared=syntax.is_implicit_VR)
        check_structure(fp, start, implicit_vr=implicit_vr, little_endian=syntax.is_little_endian)
        fp.seek(pixel_position)
        pixels = locate_pixel_element(fp, path, implicit_vr=implicit_vr, little_endian=syntax.is_little_endian)
    return SourceInstance(path, ds, syntax, pixels, body_implicit_vr=implicit_vr and not syntax.is_implicit_VR)


def convert_raw_elements(ds: Dataset) -> None:
    """Parse every element still held as read, at every depth.

    pydicom writes an unparsed element back as its raw bytes, which is only
    right in the encoding it was read in; an implicit VR body is written
    explicit, so each element needs its VR (from the dictionary, UN if
    unknown) first.

    Raises
    ------
    AnonymizationError
        An element's bytes do not parse.
    """
    try:
        for _ in ds.iterall():
            pass
    except Exception as exc:  # pydicom converting the file's bytes
        raise AnonymizationError(f"an element cannot be read: {_parser_words(exc)}") from exc


def _parser_words(exc: BaseException) -> str:
    """What the parser said, in one short line (never just an exception class name)."""
    return library_words(exc, fallback="the data does not follow the DICOM encoding")


def _read_meta(ds: Dataset) -> tuple[UID, int, str]:
    """``(transfer syntax, meta group length, media storage SOP class)``, checked.

    Raises
    ------
    AnonymizationError
        A required meta element is missing; a value that does not convert
        raises from pydicom, which the caller reports as a parse error.
    """
    meta = ds.file_meta
    syntax = meta.get("TransferSyntaxUID")
    if not syntax:
        raise AnonymizationError("file meta information has no TransferSyntaxUID")
    length = meta.get("FileMetaInformationGroupLength")
    if length is None:
        raise AnonymizationError("file meta information has no group length")
    if not isinstance(length, int):
        raise AnonymizationError("file meta information group length is not a number (wrong VR)")
    return UID(str(syntax)), length, str(meta.get("MediaStorageSOPClassUID", "") or "")


def take_sop_uids_from_meta(ds: Dataset) -> None:
    """Fill SOP Class and Instance UID from the file meta when the data set lacks them.

    pydicom reads such files; PS3.10 makes the meta's Media Storage UIDs the
    same values, so nothing is invented.
    """
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        return
    for keyword, meta_keyword in (("SOPClassUID", "MediaStorageSOPClassUID"),
                                  ("SOPInstanceUID", "MediaStorageSOPInstanceUID")):
        if not ds.get(keyword) and meta.get(meta_keyword):
            setattr(ds, keyword, str(meta[meta_keyword].value).strip("\x00 "))


# Bytes per word of the VRs whose values pydicom keeps as raw bytes in the file's byte order.
WORD_VRS = {"OW": 2, "OL": 4, "OF": 4, "OD": 8, "OV": 8}


def swap_word_values_to_little_endian(ds: Dataset, *, skip: tuple[str, ...] = ()) -> None:
    """Byte-swap every OW/OL/OF/OD/OV value read from a big endian file, at every depth.

    pydicom re-encodes numbers when it writes another byte order, but keeps
    these values as the bytes it read: written little endian unswapped, a
    palette or LUT would come out with every entry's bytes reversed.
    """
    for element in ds:
        if element.keyword in skip:
            continue
        if element.VR == "SQ":
            for item in element.value or ():
                swap_word_values_to_little_endian(item)
            continue
        size = WORD_VRS.get(element.VR)
        value = element.value
        if size and isinstance(value, (bytes, bytearray)) and value and len(value) % size == 0:
            element.value = np.frombuffer(value, dtype=f">u{size}").astype(f"<u{size}").tobytes()


def _looks_like_bare_dataset(head: bytes) -> bool:
    """True when the bytes start like a DICOM data set written without preamble and meta."""
    if len(head) < 8:
        return False
    group, _element = struct.unpack("<HH", head[:4])
    if group % 2 or group > 0x7FE0:
        return False
    if head[4:6] in KNOWN_VRS:
        return True  # explicit VR little endian
    (length,) = struct.unpack("<L", head[4:8])
    return group in (0x0002, 0x0004, 0x0008) and length < 0x10000  # implicit VR little endian


def build_file_meta(ds: Dataset, transfer_syntax: str) -> FileMetaDataset:
    """A fresh file meta group: nothing of the source's meta survives.

    The source's meta can name the sending station (SourceApplicationEntityTitle)
    or carry private information; only what PS3.10 requires is written.
    """
    meta = FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = UID(transfer_syntax)
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    return meta


def write_atomically(destination: Path, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write`` on a temporary file beside ``destination``, then rename it.

    On any error the temporary file is removed and the destination is left
    as it was.  The rename makes the file appear whole or not at all; it is
    not fsync'ed (durability across power loss is the storage layer's job,
    and an fsync per file would cost more than the de-identification).
    """
    temporary = _write_temporary(destination.parent, write)
    try:
        os.replace(temporary, destination)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_into_folder(folder: Path, stem: str, write: Callable[[BinaryIO], None]) -> tuple[Path, str]:
    """Write ``{stem}.dcm`` into ``folder`` without ever replacing a different file.

    Two inputs can carry the same SOP Instance UID (a corpus holding one
    image in several encodings, a modality resending an edited image), so
    their outputs get the same name.  Silently replacing the first would
    lose it while a report still names it.  Instead:

    * the same bytes already under the name (a re-run): the file is kept;
    * different bytes: the output goes to ``{stem}-2.dcm``, ``-3`` ...

    The name is claimed with a hard link, which fails if it exists, so the
    rule holds even when two writers race.

    Returns
    -------
    (path, note)
        Where the output is, and "" or a sentence for the report.
    """
    temporary = _write_temporary(folder, write)
    try:
        for number in itertools.count(1):
            candidate = folder / (f"{stem}.dcm" if number == 1 else f"{stem}-{number}.dcm")
            try:
                _claim(temporary, candidate)
            except FileExistsError:
                if filecmp.cmp(temporary, candidate, shallow=False):
                    return candidate, "identical to an output already in the folder (same SOP Instance UID)"
                continue
            if number == 1:
                return candidate, ""
            return candidate, (f"another output already has this SOP Instance UID: kept both, "
                               f"this one as {candidate.name}")
    finally:
        temporary.unlink(missing_ok=True)
    raise AssertionError("unreachable")  # pragma: no cover


def _claim(temporary: Path, candidate: Path) -> None:
    """Give ``temporary``'s content the name ``candidate``; FileExistsError if the name is taken."""
    try:
        os.link(temporary, candidate)
    except FileExistsError:
        raise
    except OSError:
        # No hard links on this file system: claim the name exclusively, then move the file over
        # our own empty placeholder (never over someone else's file).
        os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        os.replace(temporary, candidate)


def _write_temporary(folder: Path, write: Callable[[BinaryIO], None]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=".anonymizing-", suffix=".part", dir=folder)
    temporary = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            write(out)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def write_dataset_with_pixels(out: BinaryIO, ds: Dataset, append_pixels: Callable[[BinaryIO], None] | None) -> None:
    """Write ``ds`` (without Pixel Data) then let ``append_pixels`` add the element.

    Elements that sort after Pixel Data (only private groups can remain
    there once a profile has run) are dropped so the element order stays
    valid.
    """
    for tag in [t for t in ds.keys() if t > 0x7FE00010]:
        del ds[tag]
    pydicom.dcmwrite(out, ds, enforce_file_format=True)
    if append_pixels is not None:
        append_pixels(out)
