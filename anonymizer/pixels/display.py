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
from .regions import PixelPlan, mask_outside_regions
from .text_redaction import SourceFrame


def display_image(frame: np.ndarray, pixel_module: Dataset, photometric: str) -> np.ndarray:
    """One decoded frame as 8-bit RGB ``(rows, columns, 3)``.

    Parameters
    ----------
    frame : numpy.ndarray
        As stored or as pydicom decodes it: palette indices, monochrome values, RGB or YCbCr.
    pixel_module : Dataset
        The image pixel attributes (palettes, BitsStored).
    photometric : str
        The photometric interpretation of ``frame``.
    """
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        rgb = apply_color_lut(frame, pixel_module)
        return _to_8bit(rgb, 16 if rgb.dtype.itemsize > 1 else 8)
    bits = int(pixel_module.get("BitsStored", pixel_module.get("BitsAllocated", 8)) or 8)
    if frame.ndim == 3 and photometric.startswith("YBR"):
        from pydicom.pixels import convert_color_space

        return _to_8bit(convert_color_space(frame, "YBR_FULL", "RGB"), bits)
    if frame.ndim == 3:
        return _to_8bit(frame, bits)
    gray = frame.astype(np.float32)
    if bits > 8 or frame.dtype.kind == "i":
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
                  decoded_frames: Callable[[], Iterator[np.ndarray]]) -> Iterator[SourceFrame]:
    """One SourceFrame per frame, for the codec path ``clean_frames`` takes for this syntax."""
    from . import NATIVE_SYNTAXES

    photometric = str(pixel_module.PhotometricInterpretation).strip()
    if transfer_syntax in NATIVE_SYNTAXES:
        return _native_frames(pixel_module, photometric, encoded_frames(), little_endian=transfer_syntax != "1.2.840.10008.1.2.2")
    if transfer_syntax == JPEGBaseline8Bit:
        return _jpeg_frames(photometric, encoded_frames())
    samples = int(pixel_module.get("SamplesPerPixel", 1))
    decoded_photometric = "RGB" if samples == 3 and photometric.startswith("YBR") else photometric
    return _decoded_frames(pixel_module, decoded_photometric, decoded_frames())


def _native_frames(pixel_module: Dataset, photometric: str, frames: Iterator[bytes], *, little_endian: bool) -> Iterator[SourceFrame]:
    bits = int(pixel_module.BitsAllocated)
    rows, columns = int(pixel_module.Rows), int(pixel_module.Columns)
    samples = int(pixel_module.get("SamplesPerPixel", 1))
    planar = int(pixel_module.get("PlanarConfiguration", 0)) == 1
    signed = int(pixel_module.get("PixelRepresentation", 0)) == 1
    if bits not in (8, 16, 32):
        raise AnonymizationError(f"cannot clean native pixels with BitsAllocated {bits}")
    dtype = np.dtype(f"{'<' if little_endian else '>'}{'i' if signed else 'u'}{bits // 8}")
    fill = codecs.native_fill(pixel_module)

    def as_array(frame: bytes) -> np.ndarray:
        array = np.frombuffer(frame, dtype=dtype)
        if samples == 1:
            return array.reshape(rows, columns)
        if planar:
            return np.moveaxis(array.reshape(samples, rows, columns), 0, -1)
        return array.reshape(rows, columns, samples)

    for frame in frames:
        yield from frames_of(as_array(frame), pixel_module, photometric, fill)


def _decoded_frames(pixel_module: Dataset, photometric: str, frames: Iterator[np.ndarray]) -> Iterator[SourceFrame]:
    probe = Dataset()
    probe.update({k: v for k, v in pixel_module.items()})
    probe.PhotometricInterpretation = photometric
    fill = codecs.native_fill(probe)
    for frame in frames:
        yield from frames_of(frame, pixel_module, photometric, fill)


def frames_of(array: np.ndarray, pixel_module: Dataset, photometric: str, fill) -> Iterator[SourceFrame]:
    """The SourceFrame of one decoded frame; its output is the frame masked with ``fill``."""
    display = display_image(array, pixel_module, photometric)

    def output(plan: PixelPlan) -> np.ndarray:
        cleaned = mask_outside_regions(np.array(array, copy=True), plan, fill)
        return display_image(cleaned, pixel_module, photometric)

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
