"""The per-request upload limit (MAX_UPLOAD_BYTES), enforced while the body streams in.

Django streams multipart uploads to temp files through its upload handlers, but nothing caps the
total size of a request: a 2 GB upload would be written to disk in full before any view saw it.
Three guards, each before the bytes are kept anywhere:

- a declared Content-Length over the limit is answered 413 before a byte is read;
- a chunked body (no Content-Length; the WSGI server de-chunks it and says so with
  `wsgi.input_terminated`, as gunicorn does) is read through `CappedStream`, which stops past the
  limit; Django would otherwise read none of it, as it trusts only Content-Length;
- `UploadLimitHandler`, first in FILE_UPLOAD_HANDLERS, counts the file bytes of a multipart body
  and stops the parser before the temp file that would pass the limit is written.

Whichever guard trips raises UploadTooLarge; `UploadLimitMiddleware` answers it with a 413 that
says why (JSON for the API, DICOMweb and the upload page's fetch, a short page otherwise) and
closes the temp files the parser had opened, so nothing of the refused request stays on disk.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpResponse, JsonResponse
from django.utils.html import escape

from .errors import UploadTooLarge

log = logging.getLogger(__name__)

# Bodies that are uploads: the only ones a chunked request may stream in.
UPLOAD_MEDIA_TYPES = ("multipart/form-data", "multipart/related")
READ_CHUNK = 64 * 1024


def upload_limit() -> int:
    return settings.MAX_UPLOAD_BYTES


def declared_length(meta) -> int | None:
    """The Content-Length, or None when the request has none (chunked) or it is not a number."""
    try:
        return int(meta.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None


def is_chunked(meta) -> bool:
    return "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower()


class CappedStream:
    """A de-chunked request body that raises UploadTooLarge once more than `limit` bytes were read."""

    def __init__(self, stream, limit: int):
        self._stream = stream
        self.limit = limit
        self.consumed = 0

    def _count(self, data: bytes) -> bytes:
        self.consumed += len(data)
        if self.consumed > self.limit:
            raise UploadTooLarge(self.limit)
        return data

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            # Read to the end in bounded steps, so the cap trips before the whole body is held.
            parts = []
            while chunk := self.read(READ_CHUNK):
                parts.append(chunk)
            return b"".join(parts)
        # One byte past what is left is enough to know the limit was passed.
        return self._count(self._stream.read(min(size, self.limit - self.consumed + 1)))

    def readline(self, size: int | None = -1) -> bytes:
        remaining = self.limit - self.consumed + 1
        size = remaining if size is None or size < 0 else min(size, remaining)
        return self._count(self._stream.readline(size))


class UploadLimitHandler(FileUploadHandler):
    """Counts the file bytes of one multipart request and stops it past MAX_UPLOAD_BYTES.

    It runs before the handlers that keep the data, so the chunk that would pass the limit is never
    written to a temp file.
    """

    def __init__(self, request=None):
        super().__init__(request)
        self.total = 0

    def receive_data_chunk(self, raw_data, start):
        self.total += len(raw_data)
        if self.total > upload_limit():
            raise UploadTooLarge(upload_limit())
        return raw_data

    def file_complete(self, file_size):
        return None


def wants_json(request) -> bool:
    path = request.path_info
    return (
        path.startswith(("/api/", "/dicomweb/", "/upload/"))
        or "json" in request.META.get("HTTP_ACCEPT", "")
        or request.META.get("HTTP_X_REQUESTED_WITH") == "XMLHttpRequest"
    )


def too_large_response(request, limit: int) -> HttpResponse:
    message = (
        f"The upload is larger than the {limit // (1024 * 1024)} MiB limit per request. "
        "Send the exam in several smaller uploads."
    )
    if wants_json(request):
        return JsonResponse({"error": message, "limit_bytes": limit}, status=413)
    return HttpResponse(
        f"<!doctype html><title>Upload too large</title><h1>Upload too large</h1><p>{escape(message)}</p>",
        status=413,
    )


def discard_partial_upload(request) -> None:
    """Close the temp file a parser was writing when the limit tripped (closing deletes it).

    Files the parser had completed are closed by Django's parser itself when it fails.
    """
    for handler in getattr(request, "_upload_handlers", None) or []:
        partial = getattr(handler, "file", None)
        if partial is not None:
            try:
                partial.close()
            except OSError:
                log.warning("could not remove a partial upload temp file", exc_info=True)


class UploadLimitMiddleware:
    """Refuses request bodies over MAX_UPLOAD_BYTES with 413 while they stream (see the module doc).

    Place it before CsrfViewMiddleware: CSRF reads the POST body of the views it protects, so this
    middleware parses it first, inside the limit.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = upload_limit()
        declared = declared_length(request.META)
        if declared is not None and declared > limit:
            log.warning("upload refused before reading: Content-Length %d over the %d-byte limit", declared, limit)
            return too_large_response(request, limit)
        if (
            declared is None
            and is_chunked(request.META)
            and request.META.get("wsgi.input_terminated")
            and request.content_type in UPLOAD_MEDIA_TYPES
        ):
            # Django reads only CONTENT_LENGTH bytes of a body. A de-chunked body ends where the
            # server says it does; declare the limit and let CappedStream stop anything longer.
            request._stream = CappedStream(request.META["wsgi.input"], limit)
            request.META["CONTENT_LENGTH"] = str(limit)
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if (
            request.method == "POST"
            and request.content_type == "multipart/form-data"
            and not getattr(view_func, "csrf_exempt", False)
        ):
            # CsrfViewMiddleware would parse this body next, where an exception becomes a 500.
            try:
                request.POST
            except UploadTooLarge as exc:
                return self.refuse(request, exc)
        return None

    def process_exception(self, request, exception):
        if isinstance(exception, UploadTooLarge):
            return self.refuse(request, exception)
        return None

    def refuse(self, request, exc: UploadTooLarge) -> HttpResponse:
        log.warning("upload refused while streaming: %s", exc)
        discard_partial_upload(request)
        return too_large_response(request, exc.limit)
