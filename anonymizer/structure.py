"""Check a file's element structure before trusting it.

pydicom is lenient: a file cut in the middle of an element, an element
whose length runs past its neighbours, or an unknown VR are often read as a
shorter dataset without complaint.  For de-identification that leniency is
dangerous (a damaged file might be silently passed as "non-image" or lose
its pixels), so every element header is walked here, values skipped, and
any inconsistency is a clear per-file error.  Only headers are read: the
cost is a few reads per element, whatever the size of the pixel data.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from pydicom.datadict import dictionary_VR

from .errors import AnonymizationError

UNDEFINED = 0xFFFFFFFF
ITEM, ITEM_END, SEQUENCE_END = (0xFFFE, 0xE000), (0xFFFE, 0xE00D), (0xFFFE, 0xE0DD)
KNOWN_VRS = frozenset(
    b"AE AS AT CS DA DS DT FL FD IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV".split())
LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ UC UN UR UT SV UV".split())
FIXED_SIZE_VRS = {b"AT": 4, b"FD": 8, b"FL": 4, b"SL": 4, b"SS": 2, b"SV": 8, b"UL": 4, b"US": 2, b"UV": 8}


def check_structure(fp: BinaryIO, start: int, *, implicit_vr: bool, little_endian: bool) -> None:
    """Walk every element header from ``start`` to the end of the file.

    Raises
    ------
    AnonymizationError
        Truncation, a length past the end of its container, an unknown VR,
        or a misplaced delimiter.
    """
    fp.seek(0, 2)
    size = fp.tell()
    walker = _Walker(fp, implicit_vr, "<" if little_endian else ">", size)
    walker.elements(start, size, until_delimiter=None)


def body_is_implicit_vr(fp: BinaryIO, start: int, *, declared: bool) -> bool:
    """Whether the data set at ``start`` is really implicit VR.

    Some writers label an implicit VR body with an explicit-VR syntax; pydicom
    notices (the two bytes after the first tag are not a VR) and reads it as
    implicit, with a warning.  The same test is made here, so the walk
    accepts what pydicom accepts.  An implicit syntax is taken at its word.
    """
    if declared:
        return True
    fp.seek(start)
    head = fp.read(6)
    fp.seek(start)
    # pydicom's rule: two upper-case letters are a VR (a wrong one is then refused by the walk).
    return len(head) == 6 and not all(0x41 <= byte <= 0x5A for byte in head[4:6])


def _is_public_sequence(tag: tuple[int, int]) -> bool:
    try:
        return tag[0] % 2 == 0 and dictionary_VR(tag[0] << 16 | tag[1]) == "SQ"
    except KeyError:
        return False


class _Walker:
    def __init__(self, fp: BinaryIO, implicit_vr: bool, order: str, size: int):
        self.fp, self.implicit_vr, self.order, self.size = fp, implicit_vr, order, size
        self.fragments = False

    def header(self, position: int, end: int) -> tuple[tuple[int, int], bytes | None, int, int]:
        """Return ``(tag, vr, length, value_position)`` of the element at ``position``."""
        if position + 8 > end:
            raise AnonymizationError(f"truncated file: an element header at byte {position} is cut short")
        self.fp.seek(position)
        head = self.fp.read(8)
        group, element = struct.unpack(self.order + "HH", head[:4])
        if group == 0xFFFE or self.implicit_vr:
            (length,) = struct.unpack(self.order + "L", head[4:8])
            return (group, element), None, length, position + 8
        vr = head[4:6]
        if vr not in KNOWN_VRS:
            raise AnonymizationError(
                f"wrong VR {vr!r} for ({group:04X},{element:04X}) at byte {position}: the file is malformed")
        if vr in LONG_VRS:
            if position + 12 > end:
                raise AnonymizationError(f"truncated file: the header of ({group:04X},{element:04X}) is cut short")
            (length,) = struct.unpack(self.order + "L", self.fp.read(4))
            return (group, element), vr, length, position + 12
        (length,) = struct.unpack(self.order + "H", head[6:8])
        return (group, element), vr, length, position + 8

    def elements(self, position: int, end: int, *, until_delimiter) -> int:
        """Walk elements until ``end`` or the given delimiter; return the position after."""
        while position < end:
            tag, vr, length, value = self.header(position, end)
            if tag == until_delimiter:
                return value
            if tag[0] == 0xFFFE:
                raise AnonymizationError(f"malformed file: unexpected delimiter ({tag[0]:04X},{tag[1]:04X}) at byte {position}")
            self.fragments = tag == (0x7FE0, 0x0010)  # pixel fragments hold no elements
            if length == UNDEFINED:
                if vr not in (None, b"SQ", b"UN", b"OB", b"OW"):
                    raise AnonymizationError(f"bad length: ({tag[0]:04X},{tag[1]:04X}) {vr.decode()} has undefined length")
                position = self.items(value, end, defined_end=None)
            else:
                if value + length > end:
                    raise AnonymizationError(
                        f"truncated file or bad length: ({tag[0]:04X},{tag[1]:04X}) declares {length} bytes "
                        f"but only {max(end - value, 0)} remain")
                if vr in FIXED_SIZE_VRS and length % FIXED_SIZE_VRS[vr]:
                    # PS3.5 6.2: binary VRs hold whole values; a ragged length is a wrong VR or damage.
                    raise AnonymizationError(
                        f"bad length: ({tag[0]:04X},{tag[1]:04X}) {vr.decode()} holds {length} bytes, "
                        f"not a multiple of {FIXED_SIZE_VRS[vr]}")
                if vr == b"SQ" or (vr is None and _is_public_sequence(tag)):
                    self.items(value, value + length, defined_end=value + length)
                position = value + length
        if until_delimiter is not None:
            raise AnonymizationError("truncated file: a sequence item has no delimiter")
        return position

    def items(self, position: int, end: int, *, defined_end: int | None) -> int:
        """Walk the items of a sequence (or encapsulated pixel data), descending into each."""
        while True:
            if defined_end is not None and position >= defined_end:
                return position
            tag, _vr, length, value = self.header(position, end)
            if tag == SEQUENCE_END and defined_end is None:
                return value
            if tag != ITEM:
                raise AnonymizationError(
                    f"malformed sequence: ({tag[0]:04X},{tag[1]:04X}) where an item was expected at byte {position}")
            if length == UNDEFINED:
                position = self.elements(value, end, until_delimiter=ITEM_END)
            elif value + length > end:
                raise AnonymizationError(f"truncated file: an item declares {length} bytes but only {end - value} remain")
            else:
                if not self.fragments:
                    self.elements(value, value + length, until_delimiter=None)
                position = value + length
