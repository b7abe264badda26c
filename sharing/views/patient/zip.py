"""All the patient's files in one ZIP, streamed as it is written."""

from __future__ import annotations

import zipfile

from django.http import Http404, StreamingHttpResponse
from django.utils import timezone

from ...models import ShareEvent, ShareItem
from ...ratelimits import limit_link
from ...shares.service import record_event
from .access import open_share_or_response, private
from .pages import mark_opened, visible_items


class ZipStream:
    """A write-only file object that hands zipfile's output to a streaming response in chunks."""

    def __init__(self):
        self.chunks: list[bytes] = []
        self.position = 0

    def write(self, data: bytes) -> int:
        self.chunks.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


def zip_chunks(items: list[ShareItem]):
    stream = ZipStream()
    # Stored, not deflated: JPG and MP4 are compressed already. Entry names carry no identifier.
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for item in items:
            info = zipfile.ZipInfo(item.download_name, date_time=timezone.now().timetuple()[:6])
            info.compress_type = zipfile.ZIP_STORED
            with archive.open(info, "w", force_zip64=item.size > 2**31) as entry, item.media.open("rb") as src:
                while chunk := src.read(1024 * 1024):
                    entry.write(chunk)
                    yield stream.drain()
            yield stream.drain()
    yield stream.drain()


@limit_link
def download_all(request, token: str):
    share, response = open_share_or_response(request, token)
    if response:
        return response
    items = visible_items(share)
    if not items:
        raise Http404
    record_event(share, ShareEvent.Kind.DOWNLOADED, first_field="downloaded_at")
    mark_opened(share)
    response = StreamingHttpResponse(zip_chunks(items), content_type="application/zip")
    response["Content-Disposition"] = 'attachment; filename="ultrasound.zip"'
    return private(response)

