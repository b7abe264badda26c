"""Clean decoded frames in memory: the one entry point for codecs that decode and re-encode.

The native and RLE paths of :func:`~anonymizer.pixels.clean_frames` and the video syntaxes
(decode, clean, re-encode) all call :func:`clean_decoded_frames`, so every decoded frame is
cleaned by the same plan, text detection included.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from pydicom.dataset import Dataset

from .regions import PixelPlan, mask_outside_regions


def clean_decoded_frames(frames: np.ndarray, plan: PixelPlan, *, pixel_module: Dataset | None = None,
                         photometric: str | None = None, fill=None, identifiers: Iterable[str] = (),
                         little_endian: bool = True, engine=None) -> tuple[np.ndarray, PixelPlan]:
    """Black out what ``plan`` does not keep, after detecting burned-in text if not done yet.

    Parameters
    ----------
    frames : numpy.ndarray
        One decoded frame ``(rows, columns[, samples])`` or a batch ``(frames, rows, columns[,
        samples])``, as pydicom or a video decoder returns them.
    plan : PixelPlan
        From :func:`~anonymizer.pixels.plan_pixel_cleaning` (or ``whole_frame_plan``).  When
        ``plan.text`` is None, text detection runs first on these frames (spread sample and
        overlay changes, then the verification gate) and the returned plan carries its verdict;
        when it is set, the frames are only masked.
    pixel_module : Dataset, optional
        Rows, Columns, SamplesPerPixel, BitsStored, palettes ... of the frames: needed for text
        detection and when ``fill`` is not given.
    photometric : str, optional
        Photometric interpretation of the decoded frames (``"RGB"`` for decoded YCbCr); needed
        with ``pixel_module``.
    fill : scalar or sequence, optional
        The black value (:func:`~anonymizer.pixels.codecs.black_value`); computed when omitted.
    identifiers : iterable of str
        :func:`~anonymizer.pixels.text_policy.header_identifiers` of the original header.
    little_endian : bool
        Byte order of the source, for reading its palette.
    engine : TextEngine, optional
        Defaults to the process's engine (:func:`~anonymizer.pixels.text_detection.load_text_engine`).

    Returns
    -------
    (numpy.ndarray, PixelPlan)
        The cleaned frames (same shape; masked in place when writable) and the plan used,
        whose ``text`` says whether the output is verified clean.
    """
    # One frame starts with (rows, columns); a batch of monochrome frames ends with them.
    single = frames.shape[:2] == plan.keep.shape and not (frames.ndim == 3 and frames.shape[1:] == plan.keep.shape)
    batch = frames[None] if single else frames
    if not batch.flags.writeable:
        batch = batch.copy()
    palette = None
    if pixel_module is not None and photometric == "PALETTE COLOR":
        from .decoding import palette_dataset

        palette = palette_dataset(pixel_module, little_endian=little_endian)
    if fill is None:
        from .codecs import black_value
        from .decoding import darkest_palette_index, read_pixel_attributes

        index = darkest_palette_index(pixel_module, little_endian=little_endian) if palette is not None else None
        fill = black_value(read_pixel_attributes(pixel_module), photometric, palette_index=index)
    if plan.text is None:
        if pixel_module is None or photometric is None:
            raise ValueError("text detection needs the frames' pixel module and photometric interpretation")
        from .display import frames_of
        from .text_detection import load_text_engine
        from .text_redaction import redact_burned_in_text

        bits = int(pixel_module.get("BitsStored", pixel_module.get("BitsAllocated", 8)) or 8)
        plan = redact_burned_in_text(
            (frame for array in batch for frame in frames_of(array, photometric, fill, bits_stored=bits, palette=palette)),
            plan, frame_count=len(batch), engine=engine or load_text_engine(), identifiers=identifiers)
    for frame in batch:
        mask_outside_regions(frame, plan, fill)
    return (batch[0] if single else batch), plan
