"""The encapsulated video stream as a file: read lazily, written as one fragment.

PS3.5 8.2.5-8.2.10: the whole MPEG bit stream (an MPEG-2 transport or
program stream, an MP4 file, or a bare elementary stream from older
devices) sits in the fragments after an empty Basic Offset Table.
:class:`VideoBitstream` presents those fragments, wherever they are in the
file, as one seekable byte stream that FFmpeg can probe and demux; only
the item headers are read up front, so a clip of any length costs a few
kilobytes of memory.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable
from typing import BinaryIO

from ..errors import AnonymizationError
from ..pixels.stream import PixelElement

_ITEM = (0xFFFE, 0xE000)
_SEQUENCE_DELIMITER = (0xFFFE, 0xE0DD)
# PS3.5 A.4: a fragment's length is a 32-bit even value; 0xFFFFFFFF means undefined.
MAX_FRAGMENT_BYTES = 0xFFFFFFFE


def fragment_spans(fp: BinaryIO, value_offset: int, *, little_endian: bool = True) -> list[tuple[int, int]]:
    """Where each fragment's bytes are: ``[(offset, length), ...]`` after the offset table.

    Raises
    ------
    AnonymizationError
        The items are cut short, malformed, or hold no fragment.
    """
    order = "<" if little_endian else ">"
    fp.seek(0, io.SEEK_END)
    size = fp.tell()
    position = value_offset
    spans: list[tuple[int, int]] = []
    first = True
    while True:
        fp.seek(position)
        head = fp.read(8)
        if len(head) < 8:
            raise AnonymizationError("truncated file: the video's Pixel Data has no sequence delimiter")
        group, element, length = struct.unpack(order + "HHL", head)
        if (group, element) == _SEQUENCE_DELIMITER:
            break
        if (group, element) != _ITEM or length == 0xFFFFFFFF or position + 8 + length > size:
            raise AnonymizationError("malformed encapsulated Pixel Data: a video item is cut short or not an item")
        if not first and length:
            spans.append((position + 8, length))
        first = False  # the first item is the Basic Offset Table, empty for video
        position += 8 + length
    if not spans:
        raise AnonymizationError("the video's Pixel Data holds no stream")
    return spans


class VideoBitstream(io.RawIOBase):
    """The concatenated fragments of one encapsulated video, read on demand.

    Parameters
    ----------
    fp : binary file
        Open, seekable; owned by this object once given (closed with it).
    spans : list of (offset, length)
        From :func:`fragment_spans`.
    """

    def __init__(self, fp: BinaryIO, spans: list[tuple[int, int]]) -> None:
        super().__init__()
        self._fp = fp
        self._spans = spans
        self._starts = []
        total = 0
        for _, length in spans:
            self._starts.append(total)
            total += length
        self.length = total
        self._position = 0

    @classmethod
    def from_element(cls, element: PixelElement) -> "VideoBitstream":
        """The stream of the encapsulated Pixel Data located in a file."""
        fp = open(element.path, "rb")
        try:
            return cls(fp, fragment_spans(fp, element.value_offset, little_endian=element.little_endian))
        except BaseException:
            fp.close()
            raise

    @classmethod
    def from_value(cls, value: bytes) -> "VideoBitstream":
        """The stream of an encapsulated Pixel Data value held in memory."""
        fp = io.BytesIO(value + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")
        return cls(fp, fragment_spans(fp, 0))

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.length}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self._position < self.length:
            index = self._span_index(self._position)
            offset, length = self._spans[index]
            within = self._position - self._starts[index]
            count = min(len(view) - done, length - within)
            self._fp.seek(offset + within)
            chunk = self._fp.read(count)
            if not chunk:
                break
            view[done:done + len(chunk)] = chunk
            done += len(chunk)
            self._position += len(chunk)
        return done

    def close(self) -> None:
        if not self.closed:
            self._fp.close()
        super().close()

    def _span_index(self, position: int) -> int:
        # Few fragments in practice (one, for non-fragmentable syntaxes): a scan is enough.
        for index in range(len(self._starts) - 1, -1, -1):
            if self._starts[index] <= position:
                return index
        return 0


def write_video_pixel_data(out: BinaryIO, chunks: Iterable[bytes], *, length: int) -> None:
    """Append an encapsulated Pixel Data element holding one stream in one fragment.

    PS3.5 8.2.5-8.2.10: an empty Basic Offset Table, then the stream; one
    fragment is valid for both the fragmentable and the non-fragmentable
    syntaxes.

    Raises
    ------
    AnonymizationError
        The stream does not fit in one fragment, or fewer bytes came than announced.
    """
    padded = length + length % 2
    if padded > MAX_FRAGMENT_BYTES:
        raise AnonymizationError("the video is larger than one DICOM fragment can hold (4 GiB)")
    out.write(struct.pack("<HH2sHL", 0x7FE0, 0x0010, b"OB", 0, 0xFFFFFFFF))
    out.write(struct.pack("<HHL", *_ITEM, 0))
    out.write(struct.pack("<HHL", *_ITEM, padded))
    written = 0
    for chunk in chunks:
        out.write(chunk)
        written += len(chunk)
    if written != length:
        raise AnonymizationError(f"internal: wrote {written} video bytes, expected {length}")
    if length % 2:
        out.write(b"\x00")  # PS3.5 A.4: fragments have even length; MPEG streams tolerate a trailing zero
    out.write(struct.pack("<HHL", *_SEQUENCE_DELIMITER, 0))
