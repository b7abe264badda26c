"""Clean decoded frames in memory: the one entry point for codecs that decode and re-encode.

The RLE path of :func:`~anonymizer.pixels.clean_frames` and the video syntaxes (decode, clean,
re-encode) both call :func:`clean_decoded_frames`, so every decoded frame is cleaned by the same
plan, text detection included.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from pydicom.dataset import Dataset

from .regions import PixelPlan, mask_outside_regions


def clean_decoded_frames(frames: np.ndarray, plan: PixelPlan, *, pixel_module: Dataset, photometric: str,
                         identifiers: Iterable[str] = (), engine=None) -> tuple[np.ndarray, PixelPlan]:
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
    pixel_module : Dataset
        Rows, Columns, SamplesPerPixel, BitsStored, palettes ... of the frames.
    photometric : str
        Photometric interpretation of the decoded frames (``"RGB"`` for decoded YCbCr).
    identifiers : iterable of str
        :func:`~anonymizer.pixels.text_policy.header_identifiers` of the original header.
    engine : TextEngine, optional
        Defaults to the process's engine (:func:`~anonymizer.pixels.text_detection.load_text_engine`).

    Returns
    -------
    (numpy.ndarray, PixelPlan)
        The cleaned frames (same shape; masked in place when writable) and the plan used,
        whose ``text`` says whether the output is verified clean.
    """
    from .codecs import native_fill

    samples = int(pixel_module.get("SamplesPerPixel", 1))
    single = frames.ndim == (2 if samples == 1 else 3)
    batch = frames[None] if single else frames
    if not batch.flags.writeable:
        batch = batch.copy()
    probe = Dataset()
    probe.update({k: v for k, v in pixel_module.items()})
    probe.PhotometricInterpretation = photometric
    fill = native_fill(probe)
    if plan.text is None:
        from .display import frames_of
        from .text_detection import load_text_engine
        from .text_redaction import redact_burned_in_text

        plan = redact_burned_in_text(
            (frame for array in batch for frame in frames_of(array, pixel_module, photometric, fill)), plan,
            frame_count=len(batch), engine=engine or load_text_engine(), identifiers=identifiers)
    for frame in batch:
        mask_outside_regions(frame, plan, fill)
    return (batch[0] if single else batch), plan
