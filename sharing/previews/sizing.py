"""Patient-sized output: the long-side maximum, and the pixel budget checked before decoding.

A phone shows at most about 2,000 pixels across, and a file's header can declare far more than its
bytes hold: a 1.3 MB JPEG may say 8192 x 8192, which is 200 MB per decoded frame. So previews are
scaled to :data:`PATIENT_MAX_SIDE` on the long side by the decoder itself where it can
(libjpeg-turbo's DCT scaling, FFmpeg's swscale), and what a decoder would have to hold at full
size is bounded before the first byte is decoded, with a reason staff can read.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .errors import PreviewError

PATIENT_MAX_SIDE = 1920

# A decoder that cannot scale (pydicom's: native, JPEG 2000, JPEG-LS, RLE ...) holds one frame
# at full size: 40 Mpixel is 120 MB of 8-bit RGB or 80 MB of 16-bit grey, beyond any ultrasound
# or mammography frame.
MAX_FULL_SIZE_FRAME_PIXELS = 40_000_000
# Decoding work for a whole instance: about 2,000 frames of 1920 x 1080, a minute of cine at 30 fps.
RENDER_PIXEL_BUDGET = 4_000_000_000


def patient_size(columns: int, rows: int, *, max_side: int = PATIENT_MAX_SIDE) -> tuple[int, int]:
    """The (width, height) of a preview: at most `max_side` on the long side, never enlarged."""
    longest = max(columns, rows)
    if longest <= max_side:
        return columns, rows
    scale = max_side / longest
    return max(1, round(columns * scale)), max(1, round(rows * scale))


def check_pixel_budget(columns: int, rows: int, frames: int, *, decoder_scales: bool) -> None:
    """Refuse, before decoding, an instance whose declared size would cost too much to render.

    Raises
    ------
    PreviewError
        With the declared size and the limit it passes.
    """
    if rows * columns * frames > RENDER_PIXEL_BUDGET:
        raise PreviewError(
            f"the image is too large to preview: {frames} frame(s) of {columns}x{rows} pixels "
            f"exceed the portal's rendering budget of {RENDER_PIXEL_BUDGET // 1_000_000:,} megapixels")
    if not decoder_scales and rows * columns > MAX_FULL_SIZE_FRAME_PIXELS:
        raise PreviewError(
            f"the image is too large to preview: {columns}x{rows} pixels per frame, and this encoding "
            f"can only be decoded at full size (the limit is {MAX_FULL_SIZE_FRAME_PIXELS // 1_000_000} megapixels)")


def fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize an 8-bit display frame to exactly `width` x `height` (a no-op when it is already)."""
    if image.shape[1] == width and image.shape[0] == height:
        return image
    resized = Image.fromarray(image).resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.asarray(resized)
