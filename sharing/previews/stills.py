"""The JPG sink: full-resolution stills and thumbnails."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .atomic import atomic_output

# Quality 95 with 4:4:4 chroma keeps colour Doppler and annotations crisp;
# optimize only recomputes the Huffman tables, losslessly.
STILL_QUALITY = 95
THUMBNAIL_MAX_SIDE = 320
THUMBNAIL_QUALITY = 85


def write_still(image: np.ndarray, path: Path, *, quality: int = STILL_QUALITY) -> tuple[int, int]:
    """Write an 8-bit frame as a JPG at full resolution.

    Parameters
    ----------
    image : numpy.ndarray
        ``uint8``, ``(rows, columns)`` grey or ``(rows, columns, 3)`` RGB.
    path : pathlib.Path
        Destination; written through a temporary file, then renamed.
    quality : int
        JPEG quality, 90 or more for a diagnostic-looking still.

    Returns
    -------
    tuple of int
        The (width, height) written.
    """
    return _write_jpeg(Image.fromarray(image), path, quality=quality)


def write_thumbnail(
    image: np.ndarray,
    path: Path,
    *,
    max_side: int = THUMBNAIL_MAX_SIDE,
    quality: int = THUMBNAIL_QUALITY,
) -> tuple[int, int]:
    """Write a JPG whose longest side is at most `max_side`, never enlarged.

    Returns
    -------
    tuple of int
        The (width, height) written.
    """
    thumbnail = Image.fromarray(image)
    # reducing_gap first shrinks by an integer factor in the DCT-free
    # domain, then LANCZOS finishes: fast and without aliasing on speckle.
    thumbnail.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return _write_jpeg(thumbnail, path, quality=quality)


def _write_jpeg(image: Image.Image, path: Path, *, quality: int) -> tuple[int, int]:
    with atomic_output(path) as tmp:
        # No exif= and no comment=: Pillow then writes only the JFIF header,
        # which carries nothing about the patient or the device.
        image.save(tmp, format="JPEG", quality=quality, subsampling=0, optimize=True)
    return image.size
