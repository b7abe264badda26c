"""Clean Pixel Data: black out burned-in text, frame by frame.

:func:`plan_pixel_cleaning` decides what to keep (regions, else a vendor
rule, else nothing is known); :func:`clean_frames` turns a stream of source
frames into a stream of cleaned frames in the right output syntax.  Reading
frames and writing the element live in :mod:`.stream`, decoding (and what
the pixel module means) in :mod:`.decoding`, per-syntax work in
:mod:`.codecs`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import JPEGBaseline8Bit, RLELossless, UID

from ..errors import AnonymizationError
from . import codecs
from .decoding import darkest_palette_index, read_pixel_attributes
from .regions import PixelPlan, mask_outside_regions, plan_pixel_cleaning

__all__ = ["PixelPlan", "CleanedPixels", "clean_frames", "mask_outside_regions", "plan_pixel_cleaning"]

EXPLICIT_VR_LITTLE_ENDIAN = UID("1.2.840.10008.1.2.1")
EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2"
NATIVE_SYNTAXES = frozenset({"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"})


@dataclass
class CleanedPixels:
    """Cleaned frames, ready for a sink.

    Attributes
    ----------
    transfer_syntax : UID
        Syntax of the cleaned frames.
    photometric : str
        PhotometricInterpretation of the cleaned frames.
    frames : Iterator[bytes]
        One item per frame, produced lazily.
    encapsulated : bool
        True for compressed frames (one fragment each).
    total_length : int
        Native only: bytes of all frames together.
    lossy_method : str | None
        LossyImageCompressionMethod to record when the output is lossy.
    """

    transfer_syntax: UID
    photometric: str
    frames: Iterator[bytes]
    encapsulated: bool
    total_length: int = 0
    lossy_method: str | None = None


def clean_frames(
    pixel_module: Dataset,
    plan: PixelPlan,
    *,
    transfer_syntax: str,
    encoded_frames: Callable[[], Iterator[bytes]],
    decoded_frames: Callable[..., Iterator[np.ndarray]],
) -> CleanedPixels:
    """Choose the codec path for ``transfer_syntax`` and clean lazily.

    Parameters
    ----------
    pixel_module : Dataset
        The original image pixel attributes (Rows, Columns, photometric,
        palette ...), as read from the source.
    plan : PixelPlan
        What to keep in every frame.
    transfer_syntax : str
        The source's transfer syntax.
    encoded_frames : callable
        Returns an iterator over the source frames as stored (one
        compressed frame each); used where frames are cleaned in kind.
    decoded_frames : callable
        ``decoded_frames(as_rgb=bool)`` returns an iterator over frames
        decoded by pydicom (:func:`.decoding.decoded_frames`).

    Returns
    -------
    CleanedPixels

    Raises
    ------
    AnonymizationError
        The pixel module is unusable, or this photometric cannot be blacked out.
    """
    attributes = read_pixel_attributes(pixel_module)
    photometric = attributes.photometric
    if transfer_syntax == JPEGBaseline8Bit:
        cleaner = codecs.jpeg_baseline_cleaner(plan, monochrome1=photometric == "MONOCHROME1")
        return CleanedPixels(
            transfer_syntax=JPEGBaseline8Bit,
            photometric=codecs.jpeg_output_photometric(photometric),
            frames=codecs.ordered_map(cleaner, encoded_frames()),
            encapsulated=True,
            lossy_method="ISO_10918_1",
        )
    if attributes.bits_allocated not in (8, 16, 32):
        raise AnonymizationError(
            f"the portal cannot clean pixels of {attributes.bits_allocated} bits allocated yet")
    palette_index = None
    if photometric == "PALETTE COLOR":
        palette_index = darkest_palette_index(pixel_module, little_endian=transfer_syntax != EXPLICIT_VR_BIG_ENDIAN)
    if transfer_syntax in NATIVE_SYNTAXES:
        # Decoded as stored (YBR stays YBR, 4:2:2 chroma upsampled): masked, written losslessly.
        decoded_photometric = "YBR_FULL" if photometric == "YBR_FULL_422" else photometric
        fill = codecs.black_value(attributes, decoded_photometric, palette_index=palette_index)
        return CleanedPixels(
            transfer_syntax=EXPLICIT_VR_LITTLE_ENDIAN,
            photometric=decoded_photometric,
            frames=map(codecs.native_cleaner(plan, fill), decoded_frames(as_rgb=False)),
            encapsulated=False,
            total_length=codecs.native_frame_size(attributes) * attributes.frames,
        )
    # Everything else is decoded by pydicom's plugins (YBR_* as RGB) and written RLE Lossless.
    decoded_photometric = "RGB" if attributes.samples == 3 and photometric.startswith("YBR") else photometric
    fill = codecs.black_value(attributes, decoded_photometric, palette_index=palette_index)
    return CleanedPixels(
        transfer_syntax=RLELossless,
        photometric=decoded_photometric,
        frames=map(codecs.rle_cleaner(attributes, plan, decoded_photometric, fill), decoded_frames(as_rgb=True)),
        encapsulated=True,
    )
