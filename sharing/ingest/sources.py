"""Turn what a sender gave us (uploaded files, ZIP archives, raw bytes) into candidate files on disk.

Every candidate is a private temporary file, so the later steps can read it twice (validate,
anonymize, store) without holding it in memory. Limits are enforced while copying, not after:
an oversized upload or a zip bomb is refused before it fills the disk.
"""

from __future__ import annotations

import lzma
import os
import shutil
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from django.conf import settings

from .errors import RejectedFile
from .limits import check_file_size, file_too_large, ingest_limits

CHUNK = 1024 * 1024

# What zipfile and its decompressors raise on a damaged archive (found by tests/fuzz): a bad
# deflate stream is zlib.error, a name flagged UTF-8 that is not is UnicodeDecodeError (a
# ValueError), a bad header is struct.error or BadZipFile, an unsupported method NotImplementedError.
ZIP_DAMAGE = (
    zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError, ValueError,
    RuntimeError, IndexError, struct.error, zlib.error, lzma.LZMAError,
)


@dataclass
class Candidate:
    """One file to ingest: `label` names it for the sender's report, `path` is a private temp copy,
    or `error` says why it was refused before it could be read."""

    label: str
    path: Path | None = None
    error: str | None = None


def temp_dir() -> Path:
    path = Path(settings.FILE_UPLOAD_TEMP_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def copy_limited(stream: BinaryIO, limit: int) -> Path:
    """Copy a stream to a new temp file, refusing it as soon as it passes `limit` bytes."""
    fd, name = tempfile.mkstemp(dir=temp_dir(), suffix=".part")
    written = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(CHUNK):
                written += len(chunk)
                if written > limit:
                    raise file_too_large(limit)
                out.write(chunk)
    except BaseException:
        os.unlink(name)
        raise
    if written == 0:
        os.unlink(name)
        raise RejectedFile("file is empty")
    return Path(name)


def is_zip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) in (b"PK\x03\x04", b"PK\x05\x06")


def safe_member_name(name: str) -> str | None:
    """Return the member's normalised name, or None when it would escape the archive."""
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return None
    parts = PurePosixPath(name).parts
    if any(part == ".." for part in parts):
        return None
    return "/".join(parts)


def expand_zip(label: str, path: Path) -> Iterator[Candidate]:
    """Yield the members of a ZIP as candidates, refusing traversal and zip bombs.

    The archive is refused whole when it declares more entries or more expanded bytes than the
    limits allow; a member whose real size exceeds its declared size is cut off and refused.
    """
    limits = ingest_limits()
    try:
        archive = zipfile.ZipFile(path)
    except ZIP_DAMAGE:
        yield Candidate(label, error="not a readable ZIP archive: it is damaged or not a ZIP file")
        return
    with archive:
        # A member with an empty name makes is_dir() fail (IndexError), found by tests/fuzz.
        members = [m for m in archive.infolist() if m.filename and not m.is_dir()]
        if len(members) > limits.max_zip_entries:
            yield Candidate(label, error=f"ZIP has {len(members)} entries, more than the limit of {limits.max_zip_entries}")
            return
        declared = sum(m.file_size for m in members)
        if declared > limits.max_zip_expanded_bytes:
            yield Candidate(label, error="ZIP expands beyond the size limit (possible zip bomb)")
            return
        expanded = 0
        for member in members:
            member_label = f"{label}/{member.filename}"
            name = safe_member_name(member.filename)
            if name is None:
                yield Candidate(member_label, error="path traversal in ZIP entry name")
                continue
            if PurePosixPath(name).name.startswith(".") or name.startswith("__MACOSX/"):
                continue  # Finder and editors' metadata files, not part of the exam
            if member.flag_bits & 0x1:
                yield Candidate(member_label, error="encrypted ZIP entries are not supported")
                continue
            budget = min(limits.max_file_bytes, limits.max_zip_expanded_bytes - expanded)
            try:
                with archive.open(member) as stream:
                    temp = copy_limited(stream, budget)
            except RejectedFile as exc:
                yield Candidate(member_label, error=str(exc))
                if expanded >= limits.max_zip_expanded_bytes:
                    return
                continue
            except ZIP_DAMAGE:
                yield Candidate(member_label, error="corrupt ZIP entry: it could not be expanded")
                continue
            expanded += temp.stat().st_size
            if is_zip(temp):
                temp.unlink()
                yield Candidate(member_label, error="nested ZIP archives are not supported")
                continue
            yield Candidate(member_label, path=temp)


def candidates_from_stream(label: str, stream: BinaryIO) -> Iterator[Candidate]:
    """Copy one uploaded file to disk and yield it, or its members when it is a ZIP."""
    limits = ingest_limits()
    try:
        # A ZIP may be as large as the request; a lone DICOM file only as large as one object.
        path = copy_limited(stream, max(limits.max_file_bytes, limits.max_upload_bytes))
    except RejectedFile as exc:
        yield Candidate(label, error=str(exc))
        return
    if is_zip(path):
        try:
            yield from expand_zip(label, path)
        finally:
            path.unlink(missing_ok=True)
        return
    try:
        check_file_size(path.stat().st_size)
    except RejectedFile as exc:
        path.unlink()
        yield Candidate(label, error=str(exc))
        return
    yield Candidate(label, path=path)


def candidates_from_uploads(files: Iterable) -> Iterator[Candidate]:
    """Candidates from Django UploadedFile objects (web upload, REST API)."""
    for upload in files:
        label = os.path.basename(upload.name or "upload")
        upload.seek(0)
        yield from candidates_from_stream(label, upload)


@contextmanager
def cleanup(candidates: Iterable[Candidate]):
    """Remove every candidate's temp file when the block ends, whatever happened."""
    seen: list[Candidate] = []

    def tracked():
        for candidate in candidates:
            seen.append(candidate)
            yield candidate

    try:
        yield tracked()
    finally:
        for candidate in seen:
            if candidate.path is not None:
                candidate.path.unlink(missing_ok=True)


def move_into_temp(path: Path) -> Path:
    """Move a file the caller owns into the ingest temp folder (for the DICOM listener)."""
    fd, name = tempfile.mkstemp(dir=temp_dir(), suffix=".part")
    os.close(fd)
    shutil.move(str(path), name)
    return Path(name)
