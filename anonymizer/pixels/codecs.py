"""Clean one frame at a time, per transfer syntax family.

=================================  ==========================================
source                             what is written
=================================  ==========================================
native (uncompressed, any byte     native, explicit VR little endian, colour by
order, implicit or deflated)       pixel (YBR_FULL_422 as YBR_FULL): decoded by
                                   pydicom, masked, no loss
JPEG Baseline (8-bit lossy)        JPEG Baseline, re-encoded by libjpeg-turbo
                                   (Pillow) with the frame's *own*
                                   quantisation tables and chroma sampling,
                                   decoded straight to YCbCr (no colour
                                   round trip): blocks inside the regions come
                                   back within a grey level or two of the
                                   original, instead of a second lossy
                                   generation at another quality
any other compressed syntax        RLE Lossless: decoded by pydicom's plugins
(JPEG-LS, JPEG Lossless, J2K,      frame by frame and re-encoded losslessly,
RLE, JPEG Extended ...)            so a lossless source stays lossless and a
                                   lossy one gains no further loss
=================================  ==========================================
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image, JpegImagePlugin

from ..errors import AnonymizationError
from .decoding import PixelAttributes
from .regions import PixelPlan

# Frames decoded and encoded at once: enough to keep both cores busy while
# holding only a handful of frames in memory.
WORKERS = 2
IN_FLIGHT = 2 * WORKERS


def ordered_map(function: Callable[[bytes], bytes], items: Iterable[bytes]) -> Iterator[bytes]:
    """Apply ``function`` on a small thread pool, in order, with bounded look-ahead.

    libjpeg-turbo releases the GIL while it decodes and encodes, so two
    threads use both cores; unlike ``Executor.map`` this never reads more
    than :data:`IN_FLIGHT` frames ahead of the writer.
    """
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) >= IN_FLIGHT:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


# --- JPEG Baseline -------------------------------------------------------------------------

def jpeg_baseline_cleaner(plan: PixelPlan, *, monochrome1: bool = False) -> Callable[[bytes], bytes]:
    """Return a function that blacks out the plan's area in one JPEG frame.

    The result is JPEG Baseline with the source's quantisation tables and
    subsampling.  A frame with nothing to blank is passed through untouched.
    """
    boxes = [(x0, y0, x1, y1) for y0, y1, x0, x1 in plan.blank_rectangles]

    def clean(frame: bytes) -> bytes:
        if not boxes:
            return frame
        try:
            image = Image.open(io.BytesIO(frame))
            if image.mode == "RGB":
                image.draft("YCbCr", image.size)  # skip the YCbCr->RGB->YCbCr round trip
            image.load()
            tables = image.quantization
            sampling = JpegImagePlugin.get_sampling(image) if image.mode != "L" else 0
        except (OSError, SyntaxError, ValueError) as exc:
            raise AnonymizationError(f"JPEG frame cannot be decoded: {exc}") from exc
        if image.mode == "L":
            fill = 255 if monochrome1 else 0
        elif image.mode == "YCbCr":
            fill = (0, 128, 128)  # full-range YCbCr black
        elif image.mode == "RGB":
            fill = (0, 0, 0)
        else:
            raise AnonymizationError(f"JPEG frames in mode {image.mode} are not supported")
        for box in boxes:
            image.paste(fill, box)
        out = io.BytesIO()
        save_args = {"qtables": tables, "optimize": False}
        if image.mode != "L":
            save_args["subsampling"] = max(sampling, 0)
        image.save(out, "JPEG", **save_args)
        return out.getvalue()

    return clean


def jpeg_output_photometric(original: str) -> str:
    """PhotometricInterpretation of re-encoded JPEG frames (always YCbCr inside)."""
    if original in ("MONOCHROME1", "MONOCHROME2", "YBR_FULL", "YBR_FULL_422"):
        return original
    return "YBR_FULL_422"  # an RGB-coded source is written the usual YCbCr way


# --- native ---------------------------------------------------------------------------------

def black_value(attributes: PixelAttributes, photometric: str, *, palette_index: int | None = None):
    """The value that displays as black, per PhotometricInterpretation of the *decoded* frames.

    Parameters
    ----------
    attributes : PixelAttributes
        Bits stored and signedness of the samples.
    photometric : str
        Of the frames being masked (YBR_FULL_422 sources decode to YBR_FULL).
    palette_index : int, optional
        The darkest palette entry, for PALETTE COLOR.
    """
    bits_stored = attributes.bits_stored
    lowest = -(1 << (bits_stored - 1)) if attributes.signed else 0
    highest = (1 << (bits_stored - 1)) - 1 if attributes.signed else (1 << bits_stored) - 1
    if photometric == "MONOCHROME2":
        return lowest
    if photometric == "MONOCHROME1":
        return highest
    if photometric == "RGB":
        return (0, 0, 0)
    if photometric == "YBR_FULL":
        middle = 1 << (bits_stored - 1)
        return (0, middle, middle)
    if photometric == "PALETTE COLOR" and palette_index is not None:
        return palette_index
    raise AnonymizationError(f"the portal cannot black out {photometric} pixels yet")


def native_cleaner(plan: PixelPlan, fill) -> Callable[[np.ndarray], bytes]:
    """Return a function that blacks out the plan's area in one decoded frame.

    The frame comes from pydicom's decoder, which has already dealt with the
    source's byte order (8-bit pixels in big endian OW words included),
    planar configuration and 4:2:2 chroma; it is written back colour-by-pixel,
    little endian, so the output is exactly the decoded input outside the
    blacked-out area.
    """

    def clean(frame: np.ndarray) -> bytes:
        from .decoded import clean_decoded_frames

        frame, _ = clean_decoded_frames(np.array(frame, copy=True, order="C"), plan, fill=fill)
        return frame.astype(frame.dtype.newbyteorder("<"), copy=False).tobytes()

    return clean


def native_frame_size(attributes: PixelAttributes, *, samples: int | None = None) -> int:
    """Bytes per native frame of whole samples (``samples`` overrides the header's count)."""
    return attributes.rows * attributes.columns * (samples or attributes.samples) * (attributes.bits_allocated // 8)


# --- other compressed syntaxes -> RLE Lossless ----------------------------------------------

def rle_cleaner(attributes: PixelAttributes, plan: PixelPlan, photometric: str, fill) -> Callable[[np.ndarray], bytes]:
    """Return a function that masks one decoded frame and encodes it as RLE Lossless."""
    from pydicom.pixels.encoders import RLELosslessEncoder

    encode_args = {
        "rows": attributes.rows, "columns": attributes.columns, "samples_per_pixel": attributes.samples,
        "bits_allocated": attributes.bits_allocated, "bits_stored": attributes.bits_stored,
        "pixel_representation": int(attributes.signed),
        "photometric_interpretation": photometric, "number_of_frames": 1,
        "planar_configuration": 0,
    }

    def clean(frame: np.ndarray) -> bytes:
        from .decoded import clean_decoded_frames

        frame, _ = clean_decoded_frames(np.array(frame, copy=True, order="C"), plan, fill=fill)
        return RLELosslessEncoder.encode(frame, **encode_args)

    return clean
