"""Read what the pixels mean, for every encoding pydicom reads.

Three jobs, each a function:

* :func:`read_pixel_attributes` turns the image pixel module into checked
  numbers once, so a bad value (``Rows`` of ``"1A"``) is the file's fault,
  reported as such, and not a ``ValueError`` deep in our code;
* :func:`decoded_frames` decodes one frame at a time with pydicom's
  decoders, naming the frame when the input cannot be decoded; a file whose
  body is implicit VR under an explicit-VR syntax (pydicom reads it with a
  warning) is decoded from a whole read when the lazy reader refuses it;
* :func:`palette_dataset` gives the palette in little endian whatever the
  source's byte order, because pydicom's ``apply_color_lut`` reads
  non-segmented LUT data in the machine's byte order and segmented data in
  the byte order of a dataset it must be able to tell.
"""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import iter_pixels
from pydicom.uid import ExplicitVRLittleEndian

from ..defects import library_words
from ..errors import AnonymizationError

# Above this size a source is never read whole to work around a lying file meta.
WHOLE_READ_LIMIT = 64 * 1024 * 1024

PALETTE_DESCRIPTORS = tuple(f"{c}PaletteColorLookupTableDescriptor" for c in ("Red", "Green", "Blue"))
PALETTE_DATA = tuple(f"{c}PaletteColorLookupTableData" for c in ("Red", "Green", "Blue"))
SEGMENTED_PALETTE_DATA = tuple(f"Segmented{c}PaletteColorLookupTableData" for c in ("Red", "Green", "Blue"))


@dataclass(frozen=True)
class PixelAttributes:
    """The image pixel module as checked numbers.

    Attributes
    ----------
    rows, columns, samples, bits_allocated, bits_stored : int
    signed : bool
        PixelRepresentation 1.
    planar : bool
        PlanarConfiguration 1 (colour by plane).
    frames : int
        NumberOfFrames, 1 when absent.
    photometric : str
    """

    rows: int
    columns: int
    samples: int
    bits_allocated: int
    bits_stored: int
    signed: bool
    planar: bool
    frames: int
    photometric: str


def _number(ds: Dataset, keyword: str, default: int | None = None) -> int:
    try:
        value = ds.get(keyword)
    except Exception as exc:  # pydicom converting a raw element: the bytes do not parse
        raise AnonymizationError(f"{keyword} cannot be read: the value is malformed") from exc
    if value is None or value == "":
        if default is None:
            raise AnonymizationError(f"image without {keyword}: the pixels cannot be interpreted")
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise AnonymizationError(f"{keyword} has an invalid value: the pixels cannot be interpreted") from None


def read_pixel_attributes(ds: Dataset) -> PixelAttributes:
    """Check and convert the image pixel module.

    Raises
    ------
    AnonymizationError
        A required attribute is missing or its value is not a number.
    """
    photometric = str(ds.get("PhotometricInterpretation", "") or "").strip()
    if not photometric:
        raise AnonymizationError("image without PhotometricInterpretation: the pixels cannot be interpreted")
    attributes = PixelAttributes(
        rows=_number(ds, "Rows"),
        columns=_number(ds, "Columns"),
        samples=_number(ds, "SamplesPerPixel", 1),
        bits_allocated=_number(ds, "BitsAllocated"),
        bits_stored=_number(ds, "BitsStored", _number(ds, "BitsAllocated")),
        signed=_number(ds, "PixelRepresentation", 0) == 1,
        planar=_number(ds, "PlanarConfiguration", 0) == 1,
        frames=_number(ds, "NumberOfFrames", 1) or 1,
        photometric=photometric,
    )
    if attributes.rows < 1 or attributes.columns < 1 or attributes.frames < 1:
        raise AnonymizationError("the image has no pixels: Rows, Columns or NumberOfFrames is 0")
    return attributes


def decoded_frames(source: str | os.PathLike | Dataset, *, as_rgb: bool = True) -> Iterator[np.ndarray]:
    """Yield each decoded frame, one at a time.

    Parameters
    ----------
    source : path or Dataset
        A Part 10 file (decoded lazily) or a dataset with its file meta.
    as_rgb : bool
        Convert YBR to RGB (pydicom's default); False returns YBR_FULL for
        YBR sources, with 4:2:2 chroma upsampled.

    Raises
    ------
    AnonymizationError
        A frame cannot be decoded (corrupt codestream, too few bytes ...).
    """
    frames = _guarded(iter_pixels(source, as_rgb=as_rgb))
    try:
        first = next(frames)
    except StopIteration:
        return
    except AnonymizationError:
        # pydicom's lazy reader trusts the encoding the file meta declares; a file whose body is
        # implicit VR under an explicit syntax is still read by dcmread, which detects it.
        if isinstance(source, Dataset) or os.path.getsize(source) > WHOLE_READ_LIMIT:
            raise
        try:
            whole = pydicom.dcmread(source)
        except Exception as exc:  # pydicom's reader: the input does not parse
            raise AnonymizationError("the pixel data cannot be read: the file is malformed") from exc
        yield from _guarded(iter_pixels(whole, as_rgb=as_rgb))
        return
    yield first
    yield from frames


def _guarded(frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """Re-raise a decoder's failure as the input's fault, naming the frame."""
    for index in itertools.count():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pydicom warns about header quirks on every frame
                frame = next(frames)
        except StopIteration:
            return
        except Exception as exc:  # inside pydicom's decoders: the codestream or its header is bad
            words = library_words(exc, fallback="the decoder refused the data")
            raise AnonymizationError(f"frame {index} cannot be decoded: {words}") from exc
        yield frame


def palette_dataset(ds: Dataset, *, little_endian: bool) -> Dataset:
    """The palette of ``ds`` alone, LUT data in little endian, ready for ``apply_color_lut``.

    Parameters
    ----------
    ds : Dataset
        Holds the palette descriptors and (segmented) LUT data, as read.
    little_endian : bool
        Byte order of the source's transfer syntax: OW values keep it.

    Raises
    ------
    AnonymizationError
        No palette, or a palette whose elements cannot be read.
    """
    palette = Dataset()
    try:
        for keyword in PALETTE_DESCRIPTORS:
            if keyword not in ds:
                raise AnonymizationError("PALETTE COLOR image without its palette lookup tables")
            palette[keyword] = ds[keyword]
        for keyword in PALETTE_DATA + SEGMENTED_PALETTE_DATA:
            if keyword in ds:
                data = ds[keyword].value
                setattr(palette, keyword, data if little_endian else swap_words(data))
    except AnonymizationError:
        raise
    except Exception as exc:  # pydicom converting the raw elements
        raise AnonymizationError("the palette lookup tables cannot be read: they are malformed") from exc
    palette.file_meta = FileMetaDataset()
    palette.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    palette.set_original_encoding(False, True)
    return palette


def swap_words(data: bytes) -> bytes:
    """Swap the bytes of every 16-bit word (OW data read from a big endian file)."""
    if not data:
        return data
    return np.frombuffer(data[: len(data) - len(data) % 2], dtype="<u2").byteswap().tobytes()


def palette_colours(ds: Dataset, *, little_endian: bool) -> tuple[int, np.ndarray]:
    """``(first mapped value, (entries, 3) colours)`` of the palette of ``ds``.

    Raises
    ------
    AnonymizationError
        The palette cannot be read or expanded.
    """
    from pydicom.pixels import apply_color_lut

    palette = palette_dataset(ds, little_endian=little_endian)
    try:
        descriptor = [int(v) for v in palette.RedPaletteColorLookupTableDescriptor]
        first, entries = descriptor[1], descriptor[0] or 65536
        colours = apply_color_lut(np.arange(first, first + entries, dtype=np.int64), palette)
    except Exception as exc:  # pydicom expanding a LUT the file describes wrongly
        raise AnonymizationError("the palette lookup tables are inconsistent with their descriptor") from exc
    return first, np.asarray(colours)[..., :3]


def darkest_palette_index(ds: Dataset, *, little_endian: bool) -> int:
    """The palette index whose colour is darkest (index 0 is not always black)."""
    first, colours = palette_colours(ds, little_endian=little_endian)
    return int(first + np.argmin(colours.astype(np.int64).sum(axis=-1)))
