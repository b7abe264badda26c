"""HTTP byte ranges (RFC 9110 14) for media served through Django.

iOS Safari plays a video only from a server that answers Range requests with 206 Partial
Content, and every browser seeks in a clip with them. Django's FileResponse always sends the whole
file, so patient clips are served through this instead.
"""

from __future__ import annotations

import re

from django.http import FileResponse, HttpResponse, StreamingHttpResponse

RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK = 64 * 1024


def parse_range(header: str, size: int) -> tuple[int, int] | None | bool:
    """Return (first, last) inclusive for a single satisfiable range, None when there is no usable
    Range header (serve the whole file), or False when it cannot be satisfied (416)."""
    match = RANGE.match(header.strip()) if header else None
    if not match:
        return None  # absent, multiple ranges or another unit: the whole file is a valid answer
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":
        length = int(last)  # suffix range: the final N bytes
        if length == 0:
            return False
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return False
    return start, end


def file_slice(handle, start: int, length: int):
    try:
        handle.seek(start)
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
    finally:
        handle.close()


def ranged_file_response(request, field, *, content_type: str, as_attachment: bool = False, filename: str | None = None):
    """A FileResponse for the whole file, or a 206 for the requested range, or 416."""
    size = field.size
    wanted = parse_range(request.META.get("HTTP_RANGE", ""), size)
    if wanted is False:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    if wanted is None:
        response = FileResponse(field.open("rb"), content_type=content_type, as_attachment=as_attachment, filename=filename)
    else:
        start, end = wanted
        response = StreamingHttpResponse(file_slice(field.open("rb"), start, end - start + 1), status=206,
                                         content_type=content_type)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
        if as_attachment and filename:
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Accept-Ranges"] = "bytes"
    return response
