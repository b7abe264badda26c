"""8-bit RGB views of frames, for text detection: what a reader of the image would see.

:func:`source_frames` yields one :class:`~.text_redaction.SourceFrame` per frame for each codec
path of :func:`~anonymizer.pixels.clean_frames`, with an ``output`` that cleans the frame the way
the writer will (JPEG Baseline frames through the same re-encoding), so the verification gate
looks at the pixels that are actually written.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.uid import JPEGBaseline8Bit

from ..errors import AnonymizationError
from . import codecs
from .decoding import darkest_palette_index, palette_dataset, read_pixel_attributes
from .regions import PixelPlan, mask_outside_regions
from .text_redaction import SourceFrame


def display_image(frame: np.ndarray, photometric: str, *, bits_stored: int = 8, palette: Dataset | None = None) -> np.ndarray:
    """One decoded frame as 8-bit RGB ``(rows, columns, 3)``.

    Parameters
    ----------
    frame : numpy.ndarray
        As pydicom decodes it: palette indices, monochrome values, RGB or YCbCr.
    photometric : str
        The photometric interpretation of ``frame``.
    bits_stored : int
        Significant bits of each sample.
    palette : Dataset, optional
        For PALETTE COLOR: :func:`~.decoding.palette_dataset` of the source.
    """
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        rgb = apply_color_lut(frame, palette)
        return _to_8bit(rgb, 16 if rgb.dtype.itemsize > 1 else 8)
    if frame.ndim == 3 and photometric.startswith("YBR"):
        from pydicom.pixels import convert_color_space

        return _to_8bit(convert_color_space(frame, "YBR_FULL", "RGB"), bits_stored)
    if frame.ndim == 3:
        return _to_8bit(frame, bits_stored)
    gray = frame.astype(np.float32)
    if bits_stored > 8 or frame.dtype.kind == "i":
        low, high = float(gray.min()), float(gray.max())
        gray = (gray - low) * (255.0 / max(high - low, 1.0))
    gray = np.clip(gray, 0, 255).astype(np.uint8)
    if photometric == "MONOCHROME1":
        gray = 255 - gray
    return np.repeat(gray[..., None], 3, axis=2)


def _to_8bit(rgb: np.ndarray, bits: int) -> np.ndarray:
    if rgb.dtype == np.uint8:
        return rgb
    shift = max(bits - 8, 0)
    return np.clip(rgb.astype(np.int64) >> shift, 0, 255).astype(np.uint8)


def source_frames(pixel_module: Dataset, *, transfer_syntax: str, encoded_frames: Callable[[], Iterator[bytes]],
                  decoded_frames: Callable[..., Iterator[np.ndarray]]) -> Iterator[SourceFrame]:
    """One SourceFrame per frame, for the codec path ``clean_frames`` takes for this syntax."""
    from . import EXPLICIT_VR_BIG_ENDIAN, NATIVE_SYNTAXES

    attributes = read_pixel_attributes(pixel_module)
    photometric = attributes.photometric
    if transfer_syntax == JPEGBaseline8Bit:
        return _jpeg_frames(photometric, encoded_frames())
    little_endian = transfer_syntax != EXPLICIT_VR_BIG_ENDIAN
    palette = index = None
    if photometric == "PALETTE COLOR":
        palette = palette_dataset(pixel_module, little_endian=little_endian)
        index = darkest_palette_index(pixel_module, little_endian=little_endian)
    if transfer_syntax in NATIVE_SYNTAXES:
        decoded_photometric = "YBR_FULL" if photometric == "YBR_FULL_422" else photometric
        frames = decoded_frames(as_rgb=False)
    else:
        decoded_photometric = "RGB" if attributes.samples == 3 and photometric.startswith("YBR") else photometric
        frames = decoded_frames(as_rgb=True)
    fill = codecs.black_value(attributes, decoded_photometric, palette_index=index)
    return (source for frame in frames
            for source in frames_of(frame, decoded_photometric, fill, bits_stored=attributes.bits_stored, palette=palette))


def frames_of(array: np.ndarray, photometric: str, fill, *, bits_stored: int = 8,
              palette: Dataset | None = None) -> Iterator[SourceFrame]:
    """The SourceFrame of one decoded frame; its output is the frame masked with ``fill``."""
    display = display_image(array, photometric, bits_stored=bits_stored, palette=palette)

    def output(plan: PixelPlan) -> np.ndarray:
        cleaned = mask_outside_regions(np.array(array, copy=True), plan, fill)
        return display_image(cleaned, photometric, bits_stored=bits_stored, palette=palette)

    yield SourceFrame(small=display[::2, ::2], full=lambda: display, output=output)


def _jpeg_frames(photometric: str, frames: Iterator[bytes]) -> Iterator[SourceFrame]:
    monochrome1 = photometric == "MONOCHROME1"
    for encoded in frames:
        small = _decode_jpeg(encoded, monochrome1, half=True)

        def output(plan: PixelPlan, encoded=encoded) -> np.ndarray:
            cleaned = codecs.jpeg_baseline_cleaner(plan, monochrome1=monochrome1)(encoded)
            return _decode_jpeg(cleaned, monochrome1)

        yield SourceFrame(small=small, full=lambda encoded=encoded: _decode_jpeg(encoded, monochrome1), output=output)


def _decode_jpeg(encoded: bytes, monochrome1: bool, *, half: bool = False) -> np.ndarray:
    """Decode one JPEG frame to RGB; ``half`` uses libjpeg's DCT scaling (much cheaper)."""
    try:
        image = Image.open(io.BytesIO(encoded))
        if half:
            image.draft(image.mode if image.mode in ("L", "RGB") else "RGB", (image.width // 2, image.height // 2))
        rgb = np.asarray(image.convert("RGB"))
    except (OSError, SyntaxError, ValueError) as exc:
        raise AnonymizationError(f"JPEG frame cannot be decoded: {exc}") from exc
    return 255 - rgb if monochrome1 else rgb
