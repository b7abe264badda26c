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
from fractions import Fraction
from typing import BinaryIO

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import JPEGBaseline8Bit, RLELossless, UID

from ..errors import AnonymizationError
from ..video import VideoSyntax, reencode_video, rewrap_video, video_syntax
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
    "plan_pixel_cleaning", "rewrap_unverified_video", "whole_frame_plan",
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
    single_fragment : bool
        Video: ``frames`` yields the chunks of one stream, ``total_length``
        bytes long, written as one fragment after an empty offset table.
    lossy_ratio : str | None
        Video: the ratio of this new lossy generation, appended with its
        method to those the source already records (PS3.3 C.7.6.1.1.5).
    """

    transfer_syntax: UID
    photometric: str
    frames: Iterator[bytes]
    encapsulated: bool
    total_length: int = 0
    lossy_method: str | None = None
    single_fragment: bool = False
    lossy_ratio: str | None = None


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
    video_bitstream: Callable[[], BinaryIO] | None = None,
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
    video_bitstream : callable, optional
        Returns the encapsulated stream of a video transfer syntax as a file
        (:class:`anonymizer.video.VideoBitstream`).

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
    syntax = video_syntax(transfer_syntax)
    if syntax is not None:
        return _clean_video(pixel_module, plan, syntax, video_bitstream, attributes.frames)
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


def _clean_video(pixel_module: Dataset, plan: PixelPlan, syntax: VideoSyntax,
                 video_bitstream: Callable[[], BinaryIO] | None, frames_count: int) -> CleanedPixels:
    """Decode, mask every frame as the RLE path does, and re-encode in the same family."""
    if video_bitstream is None:
        raise AnonymizationError("internal: a video syntax needs its bitstream to be cleaned")
    black = (0, 0, 0)  # frames are decoded to RGB, whatever the stream's YCbCr matrix

    def clean(frame: np.ndarray) -> None:
        clean_decoded_frames(frame, plan, fill=black)  # in place: the one entry point for decoded frames

    with video_bitstream() as stream:
        encoded = reencode_video(stream, syntax, clean=clean, expected_frames=frames_count,
                                 fallback_rate=_frame_time_rate(pixel_module))
    rows, columns = int(pixel_module.Rows), int(pixel_module.Columns)
    bytes_per_sample = 2 if syntax.bit_depth > 8 else 1
    ratio = rows * columns * 3 * bytes_per_sample * frames_count / max(encoded.length, 1)
    return CleanedPixels(
        transfer_syntax=UID(syntax.output_uid),
        photometric=str(pixel_module.PhotometricInterpretation).strip(),
        frames=encoded.chunks(),
        encapsulated=True,
        total_length=encoded.length,
        lossy_method=syntax.lossy_method,
        single_fragment=True,
        lossy_ratio=f"{ratio:.2f}"[:16],
    )


def rewrap_unverified_video(pixel_module: Dataset, *, transfer_syntax: str,
                            video_bitstream: Callable[[], BinaryIO] | None) -> CleanedPixels | None:
    """A video whose pixels cannot be cleaned still loses what is not its pictures.

    Audio, other tracks, container metadata and the codec's user data can
    carry a spoken or written identifier; the pictures are copied as they
    are (no re-encoding). Returns None for other syntaxes and for bare
    elementary streams, which are copied byte for byte.
    """
    syntax = video_syntax(transfer_syntax)
    if syntax is None or video_bitstream is None:
        return None
    frames_count = int(pixel_module.get("NumberOfFrames", 1) or 1)
    with video_bitstream() as stream:
        copied = rewrap_video(stream, syntax, expected_frames=frames_count)
    if copied is None:
        return None
    return CleanedPixels(
        transfer_syntax=UID(syntax.uid), photometric=str(pixel_module.PhotometricInterpretation).strip(),
        frames=copied.chunks(), encapsulated=True, total_length=copied.length, single_fragment=True,
    )


def _frame_time_rate(pixel_module: Dataset) -> Fraction | None:
    """Frames per second from Frame Time (ms), for elementary streams without timestamps."""
    try:
        milliseconds = Fraction(str(pixel_module.get("FrameTime", "")).strip())
    except (ValueError, ZeroDivisionError):
        return None
    return (1000 / milliseconds).limit_denominator(1001) if milliseconds > 0 else None
