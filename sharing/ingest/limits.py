"""The ingest limits every door enforces: C-STORE, STOW-RS, the staff upload and the REST API.

The numbers come from the settings (MAX_FILE_BYTES, MAX_UPLOAD_BYTES, DATA_UPLOAD_MAX_NUMBER_FILES,
MAX_ZIP_*); the doors read them here and refuse with the sentences defined here, so a file one door
refuses is refused by every door, with the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from .errors import RejectedFile

MIB = 1024 * 1024


@dataclass(frozen=True)
class IngestLimits:
    """The limits in force for one request or one association."""

    max_file_bytes: int
    max_upload_bytes: int
    max_files: int
    max_zip_entries: int
    max_zip_expanded_bytes: int


def ingest_limits() -> IngestLimits:
    """Return the limits from the settings (read per call, so tests and reloads see changes)."""
    return IngestLimits(
        max_file_bytes=settings.MAX_FILE_BYTES,
        max_upload_bytes=settings.MAX_UPLOAD_BYTES,
        # One number for the form's files and STOW-RS's parts: Django's own cap on a form upload.
        max_files=settings.DATA_UPLOAD_MAX_NUMBER_FILES,
        max_zip_entries=settings.MAX_ZIP_ENTRIES,
        max_zip_expanded_bytes=settings.MAX_ZIP_EXPANDED_BYTES,
    )


def in_mib(size: int) -> str:
    """A byte count as staff read it: '512 MiB', or '1.5 MiB' below 10 MiB."""
    value = size / MIB
    return f"{value:.0f} MiB" if value >= 10 or value == int(value) else f"{value:.1f} MiB"


def file_too_large(limit: int | None = None) -> RejectedFile:
    """The refusal of one object over MAX_FILE_BYTES, worded the same at every door."""
    limit = ingest_limits().max_file_bytes if limit is None else limit
    return RejectedFile(f"file is larger than the {in_mib(limit)} limit")


def check_file_size(size: int) -> None:
    """Raise RejectedFile when one object of `size` bytes is over MAX_FILE_BYTES."""
    if size > ingest_limits().max_file_bytes:
        raise file_too_large()


def too_many_files_message(limit: int | None = None) -> str:
    limit = ingest_limits().max_files if limit is None else limit
    return f"more than {limit} files in one request; send the exam in several requests"
