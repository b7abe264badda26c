"""Read and write the Pixel Data element as a stream, one frame at a time.

The header is read by pydicom up to Pixel Data; the pixel element itself is
located here and its frames are read lazily from the file, so memory stays
bounded by a few frames whatever the length of the clip.  On output the
element is appended after the header that pydicom wrote.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from pydicom.encaps import generate_frames

from ..errors import AnonymizationError

PIXEL_DATA_TAG = 0x7FE00010
UNDEFINED_LENGTH = 0xFFFFFFFF
_ITEM = b"\xfe\xff\x00\xe0"
_SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
_LONG_VRS = {b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV"}


@dataclass(frozen=True)
class PixelElement:
    """Where the Pixel Data element sits in a source file.

    Attributes
    ----------
    path : str
        The source file.
    element_offset : int
        Offset of the element's tag.
    value_offset : int
        Offset of the first value byte (the Basic Offset Table item when
        encapsulated).
    length : int | None
        Value length, or None for an encapsulated (undefined length) value.
    little_endian : bool
        Byte order of the transfer syntax.
    vr : str | None
        The VR written in the file (None for an implicit VR body).
    """

    path: str
    element_offset: int
    value_offset: int
    length: int | None
    little_endian: bool
    vr: str | None = None

    @property
    def encapsulated(self) -> bool:
        return self.length is None


def locate_pixel_element(fp: BinaryIO, path: str, *, implicit_vr: bool, little_endian: bool) -> PixelElement | None:
    """Parse the element header at ``fp``'s position (where pydicom stopped).

    Returns None when the dataset has no Pixel Data.

    Raises
    ------
    AnonymizationError
        The header is cut short, or the value runs past the end of the file.
    """
    start = fp.tell()
    head = fp.read(8)
    if not head:
        return None
    if len(head) < 8:
        raise AnonymizationError("truncated file: the Pixel Data element header is cut short")
    order = "<" if little_endian else ">"
    group, element = struct.unpack(order + "HH", head[:4])
    if (group << 16 | element) != PIXEL_DATA_TAG:
        return None  # float/double pixel data or trailing elements: not image pixels we clean
    vr = None if implicit_vr else head[4:6].decode("ascii", "replace")
    if implicit_vr:
        (length,) = struct.unpack(order + "L", head[4:8])
        value_offset = start + 8
    elif head[4:6] in _LONG_VRS:
        extra = fp.read(4)
        if len(extra) < 4:
            raise AnonymizationError("truncated file: the Pixel Data element header is cut short")
        (length,) = struct.unpack(order + "L", extra)
        value_offset = start + 12
    else:
        (length,) = struct.unpack(order + "H", head[6:8])
        value_offset = start + 8
    fp.seek(0, 2)
    size = fp.tell()
    if length != UNDEFINED_LENGTH and value_offset + length > size:
        raise AnonymizationError(
            f"truncated file: Pixel Data declares {length} bytes but only {size - value_offset} remain")
    if length != UNDEFINED_LENGTH and length % 2:
        raise AnonymizationError(f"bad length: Pixel Data has odd length {length}")
    return PixelElement(path, start, value_offset, None if length == UNDEFINED_LENGTH else length, little_endian, vr)


def iter_encapsulated_frames(element: PixelElement, number_of_frames: int) -> Iterator[bytes]:
    """Yield each compressed frame, reading fragments lazily from the file."""
    with open(element.path, "rb") as fp:
        fp.seek(element.value_offset)
        count = 0
        try:
            for frame in generate_frames(fp, number_of_frames=number_of_frames):
                count += 1
                yield frame
        except (ValueError, EOFError, struct.error) as exc:
            raise AnonymizationError(f"truncated or malformed encapsulated Pixel Data: {exc}") from exc
        if count != number_of_frames:
            raise AnonymizationError(f"Pixel Data holds {count} frame(s), NumberOfFrames says {number_of_frames}")


def copy_pixel_element(element: PixelElement, out: BinaryIO, *, implicit_vr: bool, little_endian: bool,
                       native_vr: str) -> None:
    """Copy the Pixel Data value byte for byte, under a header in the output's encoding.

    Used by header-only profiles: the pixels are neither decoded nor held in
    memory.  The element header is written afresh, because the source's may
    be implicit VR under an explicit-VR syntax (a writer bug pydicom reads),
    and the output follows the syntax its file meta declares.  For an
    encapsulated value the items are walked to find the end and to check
    that none is cut short.

    Parameters
    ----------
    element : PixelElement
        Where the value sits in the source.
    out : BinaryIO
        The output, positioned after the header pydicom wrote.
    implicit_vr, little_endian : bool
        The output's encoding (the byte order never changes here: a value is
        only copied when the output keeps the source's syntax family).
    native_vr : str
        VR for a native value when the source did not write one (OB or OW).
    """
    order = "<" if little_endian else ">"
    if element.length is None:
        out.write(struct.pack(order + "HH2sHL", 0x7FE0, 0x0010, b"OB", 0, UNDEFINED_LENGTH))
    elif implicit_vr:
        out.write(struct.pack(order + "HHL", 0x7FE0, 0x0010, element.length))
    else:
        vr = element.vr if element.vr in ("OB", "OW") else native_vr
        out.write(struct.pack(order + "HH2sHL", 0x7FE0, 0x0010, vr.encode(), 0, element.length))
    with open(element.path, "rb") as fp:
        fp.seek(element.value_offset)
        if element.length is not None:
            _copy_exact(fp, out, element.length)
            return
        source_order = "<" if element.little_endian else ">"
        while True:
            head = fp.read(8)
            if len(head) < 8:
                raise AnonymizationError("truncated file: encapsulated Pixel Data has no sequence delimiter")
            out.write(head)
            group, elem, length = struct.unpack(source_order + "HHL", head)
            if (group, elem) == (0xFFFE, 0xE0DD):
                return
            if (group, elem) != (0xFFFE, 0xE000) or length == UNDEFINED_LENGTH:
                raise AnonymizationError(f"malformed encapsulated Pixel Data: unexpected ({group:04X},{elem:04X})")
            _copy_exact(fp, out, length)


def _copy_exact(fp: BinaryIO, out: BinaryIO, length: int) -> None:
    remaining = length
    while remaining:
        chunk = fp.read(min(remaining, 1 << 20))
        if not chunk:
            raise AnonymizationError("truncated file: Pixel Data ends early")
        out.write(chunk)
        remaining -= len(chunk)


def write_native_pixel_data(out: BinaryIO, frames: Iterable[bytes], *, total_length: int, vr: str) -> None:
    """Append a native Pixel Data element (explicit VR little endian)."""
    padded = total_length + (total_length % 2)
    out.write(struct.pack("<HH2sHL", 0x7FE0, 0x0010, vr.encode(), 0, padded))
    written = 0
    for frame in frames:
        out.write(frame)
        written += len(frame)
    if written != total_length:
        raise AnonymizationError(f"internal: wrote {written} pixel bytes, expected {total_length}")
    if total_length % 2:
        out.write(b"\x00")


def write_encapsulated_pixel_data(out: BinaryIO, frames: Iterable[bytes], *, number_of_frames: int) -> None:
    """Append an encapsulated Pixel Data element: one fragment per frame.

    The Basic Offset Table is reserved first and filled in once every frame
    is written, so viewers can seek to any frame without holding them all.
    """
    out.write(struct.pack("<HH2sHL", 0x7FE0, 0x0010, b"OB", 0, UNDEFINED_LENGTH))
    table_position = out.tell()
    out.write(_ITEM + struct.pack("<L", 4 * number_of_frames) + b"\x00" * (4 * number_of_frames))
    first_item = out.tell()
    offsets = []
    for frame in frames:
        offsets.append(out.tell() - first_item)
        if len(frame) % 2:
            frame += b"\x00"  # PS3.5 A.4: fragments have even length
        out.write(_ITEM + struct.pack("<L", len(frame)))
        out.write(frame)
    if len(offsets) != number_of_frames:
        raise AnonymizationError(f"internal: wrote {len(offsets)} frames, expected {number_of_frames}")
    out.write(_SEQUENCE_DELIMITER)
    end = out.tell()
    if max(offsets, default=0) > 0xFFFFFFFF:
        raise AnonymizationError("clip too large for a Basic Offset Table (over 4 GiB)")
    out.seek(table_position + 8)
    out.write(struct.pack(f"<{number_of_frames}L", *offsets))
    out.seek(end)

