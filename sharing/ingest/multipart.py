"""A streaming multipart reader for request bodies Django's form parser does not take (STOW-RS).

Django parses multipart/form-data itself, through its upload handlers. A STOW-RS body is
multipart/related: parts without names, one DICOM object each. python-multipart's parser reads it
as it streams in, and every part goes straight to its own temp file, so memory stays flat however
large the parts are. The limits are those of every other door (limits.py): a part over
MAX_FILE_BYTES is refused (its bytes are read and dropped, not kept), and a body with more parts
than DATA_UPLOAD_MAX_NUMBER_FILES is refused whole, as soon as the part over the limit begins.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser

from .errors import UploadTooLarge
from .limits import file_too_large, ingest_limits, too_many_files_message
from .sources import Candidate, temp_dir

READ_CHUNK = 1024 * 1024

__all__ = ["MalformedMultipart", "TooManyParts", "read_multipart"]


class TooManyParts(Exception):
    """The body holds more parts than one request may; the message says so to the sender."""


class MalformedMultipart(Exception):
    """The body is not multipart with the announced boundary."""


@dataclass
class _Part:
    label: str
    headers: dict[str, str] = field(default_factory=dict)
    path: Path | None = None
    out: object | None = None
    size: int = 0
    error: str | None = None
    complete: bool = False


class _Spooler:
    """python-multipart callbacks that write each part to a private temp file."""

    def __init__(self, accept: Callable[[dict[str, str]], str | None]):
        self.limits = ingest_limits()
        self.accept = accept
        self.parts: list[_Part] = []
        self._field = b""
        self._value = b""

    @property
    def current(self) -> _Part:
        return self.parts[-1]

    def on_part_begin(self) -> None:
        if len(self.parts) >= self.limits.max_files:
            raise TooManyParts(too_many_files_message(self.limits.max_files))
        self.parts.append(_Part(label=f"part {len(self.parts) + 1}"))

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        name = self._field.decode("latin-1").strip().lower()
        self.current.headers[name] = self._value.decode("latin-1").strip()
        self._field = self._value = b""

    def on_headers_finished(self) -> None:
        part = self.current
        part.error = self.accept(part.headers)
        if part.error is None:
            fd, name = tempfile.mkstemp(dir=temp_dir(), suffix=".part")
            part.path, part.out = Path(name), os.fdopen(fd, "wb")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self.current
        part.size += end - start
        if part.out is None:
            return  # refused: read on to the next boundary, keep nothing
        if part.size > self.limits.max_file_bytes:
            self.drop(part, str(file_too_large(self.limits.max_file_bytes)))
            return
        part.out.write(data[start:end])

    def on_part_end(self) -> None:
        part = self.current
        part.complete = True
        if part.out is not None:
            part.out.close()
            part.out = None

    def drop(self, part: _Part, reason: str) -> None:
        part.error = reason
        if part.out is not None:
            part.out.close()
            part.out = None
        if part.path is not None:
            part.path.unlink(missing_ok=True)
            part.path = None

    def discard_all(self) -> None:
        for part in self.parts:
            self.drop(part, part.error or "discarded")

    def candidates(self) -> list[Candidate]:
        out = []
        for part in self.parts:
            if not part.complete:
                self.drop(part, "multipart body ends before its closing boundary (truncated)")
            elif part.error is None and part.size == 0:
                self.drop(part, "file is empty")
            out.append(Candidate(part.label, path=part.path, error=part.error))
        return out


def read_multipart(
    read: Callable[[int], bytes], boundary: str, *, accept: Callable[[dict[str, str]], str | None] = lambda headers: None,
) -> list[Candidate]:
    """Read a multipart body from `read` and return one candidate per part.

    Parameters
    ----------
    read : callable
        Reads up to n bytes of the body (a WSGI input or Django request's ``read``); b"" at the end.
    boundary : str
        The boundary parameter of the Content-Type.
    accept : callable, optional
        Given a part's headers (lower-case names), returns None to keep the part or the reason to
        refuse it; a refused part's bytes are read and dropped.

    Returns
    -------
    list of Candidate
        In body order; each has a private temp file (`path`) or the reason it was refused
        (`error`): over MAX_FILE_BYTES, empty, cut off before its boundary, or refused by `accept`.

    Raises
    ------
    TooManyParts
        More parts than DATA_UPLOAD_MAX_NUMBER_FILES; no part is kept.
    UploadTooLarge
        The body passed MAX_UPLOAD_BYTES; no part is kept.
    MalformedMultipart
        The body does not parse as multipart with this boundary; no part is kept.
    """
    spooler = _Spooler(accept)
    parser = MultipartParser(boundary, callbacks={
        "on_part_begin": spooler.on_part_begin,
        "on_part_data": spooler.on_part_data,
        "on_part_end": spooler.on_part_end,
        "on_header_field": spooler.on_header_field,
        "on_header_value": spooler.on_header_value,
        "on_header_end": spooler.on_header_end,
        "on_headers_finished": spooler.on_headers_finished,
    })
    limit = spooler.limits.max_upload_bytes
    total = 0
    first = True
    try:
        while chunk := read(READ_CHUNK):
            total += len(chunk)
            if total > limit:
                raise UploadTooLarge(limit)
            if first:
                # RFC 2046 5.1.1 allows a preamble before the first delimiter; the parser does not.
                chunk = chunk[max(chunk.find(b"--" + boundary.encode("latin-1")), 0):]
                first = False
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        spooler.discard_all()
        raise MalformedMultipart(str(exc)) from None
    except BaseException:
        spooler.discard_all()
        raise
    return spooler.candidates()
