"""Which pixels may hold burned-in text, and blacking them out.

Two sources of knowledge, in this order:

1. SequenceOfUltrasoundRegions: the scanner says where the image data is;
   everything outside the union of the regions is banner, annotation or
   background and is blacked out.
2. A vendor rule (:mod:`vendor_regions`): for a known vendor, model and
   image size, the boxes where text is burned in are blacked out.

With neither, :func:`whole_frame_plan` keeps everything and text detection
(:mod:`.text_redaction`) finds what to black out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from .vendor_regions import VENDOR_RULES


@dataclass(frozen=True)
class PixelPlan:
    """What to keep in every frame of one instance.

    Attributes
    ----------
    keep : numpy.ndarray
        Boolean ``(rows, columns)``: True where pixels stay as they are.
    source : str
        ``"regions"``, ``"vendor rule: <label>"`` or ``"whole frame"``, for the report.
    text : TextVerdict | None
        Set once text detection has run (:mod:`.text_redaction`): ``keep`` then also excludes
        the text boxes, and the verdict says whether the output was verified clean.
    """

    keep: np.ndarray
    source: str
    text: object = None

    @property
    def blank_rectangles(self) -> tuple[tuple[int, int, int, int], ...]:
        """The blanked area as ``(y0, y1, x0, x1)`` rectangles (half-open), computed once."""
        cached = self.__dict__.get("_rectangles")
        if cached is None:
            cached = blank_rectangles(self.keep)
            object.__setattr__(self, "_rectangles", cached)
        return cached


def blank_rectangles(keep: np.ndarray) -> tuple[tuple[int, int, int, int], ...]:
    """Decompose the False area of ``keep`` into rectangles.

    Rows with the same pattern are grouped into bands, and each band's runs
    of False become one rectangle: slicing a few rectangles is an order of
    magnitude faster than boolean indexing on every frame.
    """
    rectangles = []
    rows = keep.shape[0]
    y = 0
    while y < rows:
        band_end = y + 1
        while band_end < rows and np.array_equal(keep[band_end], keep[y]):
            band_end += 1
        blank = ~keep[y]
        if blank.any():
            edges = np.flatnonzero(np.diff(np.concatenate(([0], blank.view(np.int8), [0]))))
            for x0, x1 in zip(edges[::2], edges[1::2]):
                rectangles.append((y, band_end, int(x0), int(x1)))
        y = band_end
    return tuple(rectangles)


def regions_keep_mask(ds: Dataset, rows: int, columns: int) -> np.ndarray | None:
    """Union of the ultrasound regions as a keep mask, or None without regions.

    Region bounds are inclusive (PS3.3 C.8.5.5.1.1) and clipped to the image:
    some files carry regions measured on a larger acquisition matrix.
    """
    regions = ds.get("SequenceOfUltrasoundRegions")
    if not regions:
        return None
    keep = np.zeros((rows, columns), dtype=bool)
    found = False
    for region in regions:
        try:
            x0, y0 = int(region.RegionLocationMinX0), int(region.RegionLocationMinY0)
            x1, y1 = int(region.RegionLocationMaxX1), int(region.RegionLocationMaxY1)
        except (AttributeError, TypeError, ValueError):
            continue  # a region without bounds says nothing about where text is
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, columns - 1), min(y1, rows - 1)
        if x1 >= x0 and y1 >= y0:
            keep[y0:y1 + 1, x0:x1 + 1] = True
            found = True
    return keep if found else None


def match_vendor_rule(ds: Dataset) -> tuple[str, tuple[tuple[int, int, int, int], ...]] | None:
    """Return ``(label, boxes)`` of the first vendor rule that matches ``ds``."""
    for label, conditions, boxes in VENDOR_RULES:
        if all(_condition_holds(ds, keyword, test, values) for keyword, test, values in conditions):
            return label, boxes
    return None


def _condition_holds(ds: Dataset, keyword: str, test: str, values: tuple[str, ...]) -> bool:
    if keyword in ("ImplementationVersionName",) and getattr(ds, "file_meta", None) is not None:
        actual = ds.file_meta.get(keyword)
    else:
        actual = ds.get(keyword)
    if actual is None:
        return False
    text = "\\".join(str(v) for v in actual) if isinstance(actual, (list, tuple)) or type(actual).__name__ == "MultiValue" else str(actual)
    if test == "equals":
        return text.strip() in values
    return any(v.lower() in text.lower() for v in values)


def vendor_keep_mask(boxes, rows: int, columns: int) -> np.ndarray:
    """Keep mask that blanks each ``(x, y, width, height)`` box, clipped to the image."""
    keep = np.ones((rows, columns), dtype=bool)
    for x, y, width, height in boxes:
        keep[max(y, 0):min(y + height, rows), max(x, 0):min(x + width, columns)] = False
    return keep


def plan_pixel_cleaning(ds: Dataset) -> PixelPlan | None:
    """Decide what to keep in the pixels of ``ds`` (the original header).

    Returns None when neither regions nor a vendor rule apply: the pixels
    cannot be verified.
    """
    rows, columns = int(ds.Rows), int(ds.Columns)
    keep = regions_keep_mask(ds, rows, columns) if ds.get("Modality") == "US" or "SequenceOfUltrasoundRegions" in ds else None
    if keep is not None:
        return PixelPlan(keep, "regions")
    rule = match_vendor_rule(ds)
    if rule is not None:
        label, boxes = rule
        return PixelPlan(vendor_keep_mask(boxes, rows, columns), f"vendor rule: {label}")
    return None


def whole_frame_plan(rows: int, columns: int) -> PixelPlan:
    """The plan for an image with neither regions nor a vendor rule: text detection decides."""
    return PixelPlan(np.ones((rows, columns), dtype=bool), "whole frame")


def mask_outside_regions(frame: np.ndarray, plan: PixelPlan, fill) -> np.ndarray:
    """Set every pixel of ``frame`` outside the kept area to ``fill``, in place.

    Parameters
    ----------
    frame : numpy.ndarray
        ``(rows, columns)`` or ``(rows, columns, samples)``.
    plan : PixelPlan
        What to keep.
    fill : scalar or sequence
        The black value: one per sample (``(0, 128, 128)`` for YCbCr).

    Returns
    -------
    numpy.ndarray
        ``frame``, for chaining.
    """
    for y0, y1, x0, x1 in plan.blank_rectangles:
        frame[y0:y1, x0:x1] = fill
    return frame
