"""Clean Pixel Data: black out burned-in text, frame by frame, and prove it is gone.

:func:`plan_pixel_cleaning` decides what to keep (regions, else a vendor
rule, else the whole frame); :func:`detect_burned_in_text` runs text
detection over the frames, adds the text boxes to the plan and attaches the
verification verdict; :func:`clean_frames` turns a stream of source frames
into a stream of cleaned frames in the right output syntax.
:func:`clean_decoded_frames` cleans decoded numpy frames (one or a batch) for
codecs that decode and re-encode.  Reading frames and writing the element
live in :mod:`.stream`, decoding (and what the pixel module means) in
:mod:`.decoding`, per-syntax work in :mod:`.codecs`, the policy in
:mod:`.text_policy`, the OCR in :mod:`.text_detection`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import JPEGBaseline8Bit, RLELossless, UID

from ..errors import AnonymizationError
from . import codecs
from .decoded import clean_decoded_frames
from .decoding import darkest_palette_index, read_pixel_attributes
from .regions import PixelPlan, mask_outside_regions, plan_pixel_cleaning, whole_frame_plan
from .text_detection import TextEngineUnavailable, check_text_engine, load_text_engine
from .text_policy import header_identifiers
from .text_redaction import TextVerdict

__all__ = [
    "PixelPlan", "CleanedPixels", "TextEngineUnavailable", "TextVerdict", "check_text_engine", "clean_decoded_frames",
    "clean_frames", "detect_burned_in_text", "header_identifiers", "load_text_engine", "mask_outside_regions",
    "plan_pixel_cleaning", "whole_frame_plan",
]

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


def detect_burned_in_text(
    pixel_module: Dataset,
    plan: PixelPlan,
    *,
    transfer_syntax: str,
    encoded_frames: Callable[[], Iterator[bytes]],
    decoded_frames: Callable[..., Iterator[np.ndarray]],
    identifiers=(),
    blackout=(),
) -> PixelPlan:
    """Run text detection over the instance's frames; return the final plan with its verdict.

    Parameters
    ----------
    pixel_module, transfer_syntax, encoded_frames, decoded_frames
        As for :func:`clean_frames` (the frames are read once more, before writing).
    plan : PixelPlan
        Regions, vendor rule or whole frame.
    identifiers : iterable of str
        :func:`header_identifiers` of the original header.
    blackout : iterable of (x0, y0, x1, y1)
        Boxes staff asked to black out as well.

    Returns
    -------
    PixelPlan
        ``keep`` less the text boxes; ``text`` is the :class:`TextVerdict`.

    Raises
    ------
    TextEngineUnavailable
        The OCR models cannot be loaded (a deployment defect, not bad input).
    """
    from .display import source_frames
    from .text_redaction import redact_burned_in_text

    engine = load_text_engine()
    frames = source_frames(pixel_module, transfer_syntax=transfer_syntax, encoded_frames=encoded_frames,
                           decoded_frames=decoded_frames)
    return redact_burned_in_text(frames, plan, frame_count=read_pixel_attributes(pixel_module).frames,
                                 engine=engine, identifiers=identifiers, blackout=blackout)


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
