"""Pixel processing: from decoded stored values to 8-bit display values.

The order follows PS3.3 C.11 (and PS3.4 N.2): Modality LUT (rescale or
LUT), then VOI (window or VOI LUT), then the presentation inversion of
MONOCHROME1; palette colour goes through its RGB LUTs; RGB is scaled from
*Bits Stored* to 8 bits.

For integer data of up to 16 bits the whole chain is evaluated once, on
every possible stored value, into a lookup table; a frame is then mapped
by indexing. That is both fast and the guarantee that every frame of a
clip is mapped identically, so a clip cannot flicker.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi
from pydicom.uid import UID

from anonymizer.errors import AnonymizationError
from anonymizer.pixels.decoding import palette_dataset

from .errors import PreviewError

# Robust window when the instance has none: ignore the darkest and the
# brightest 0.5 % of pixels (background, burned-in text, metal).
PERCENTILE_LOW = 0.5
PERCENTILE_HIGH = 99.5

# Frames sampled to compute that window once for a whole clip.
PERCENTILE_SAMPLE_FRAMES = 10

GREY_PHOTOMETRICS = ("MONOCHROME1", "MONOCHROME2")
COLOUR_PHOTOMETRICS = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT")


@dataclass(frozen=True)
class LinearRange:
    """Map ``lower`` to black and ``upper`` to white, linearly, clipping.

    Used for the robust percentile window and for the full range of
    8-bit data, which is already meant to be displayed as stored.
    """

    lower: float
    upper: float

    def __call__(self, values: np.ndarray) -> np.ndarray:
        span = max(self.upper - self.lower, 1e-9)
        return np.clip((values - self.lower) / span, 0.0, 1.0)


@dataclass(frozen=True)
class Window:
    """A VOI window (0028,1050/1051/1056), per PS3.3 C.11.2.1.2 and C.11.2.1.3."""

    center: float
    width: float
    function: str = "LINEAR"

    def __call__(self, values: np.ndarray) -> np.ndarray:
        x = values.astype(np.float64)
        if self.function == "SIGMOID":
            return 1.0 / (1.0 + np.exp(-4.0 * (x - self.center) / self.width))
        if self.function == "LINEAR_EXACT":
            return np.clip((x - self.center) / self.width + 0.5, 0.0, 1.0)
        # LINEAR: the standard's -0.5 and -1 make integer windows symmetric.
        center, width = self.center - 0.5, self.width - 1.0
        if width == 0:
            return (x > center).astype(np.float64)
        return np.clip((x - center) / width + 0.5, 0.0, 1.0)


@dataclass(frozen=True)
class VoiLut:
    """The first item of the VOI LUT Sequence (0028,3010), applied by pydicom."""

    header: Dataset = field(repr=False)
    bits: int

    def __call__(self, values: np.ndarray) -> np.ndarray:
        # pydicom indexes the LUT with the values, so they must be integers.
        indices = np.rint(values).astype(np.int64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = apply_voi(indices, self.header)
        return out / float(2**self.bits - 1)


@dataclass(frozen=True)
class DisplayMapping:
    """Turns a decoded frame into an 8-bit frame ready for a sink.

    Build it with :func:`plan_display`; call it on every frame.

    Attributes
    ----------
    pixel_format : str
        ``"gray"`` (2-D output) or ``"rgb24"`` (``(rows, columns, 3)``), the
        ffmpeg name of what the mapping returns.
    voi : Window | VoiLut | LinearRange | None
        For greyscale, the VOI chosen once for all frames.
    """

    pixel_format: str
    to_unit: Callable[[np.ndarray], np.ndarray] = field(repr=False)
    voi: Window | VoiLut | LinearRange | None = None
    _tables: dict = field(default_factory=dict, repr=False, compare=False)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """Return `frame` as ``uint8`` display values.

        Parameters
        ----------
        frame : numpy.ndarray
            One decoded frame, as yielded by a frame source.

        Returns
        -------
        numpy.ndarray
            ``uint8``, 2-D for ``gray``, 3-D with 3 samples for ``rgb24``.
        """
        if self.pixel_format == "rgb24" and frame.ndim == 3 and frame.shape[2] == 4:
            frame = frame[..., :3]
        if frame.dtype.kind in "ui" and frame.dtype.itemsize <= 2:
            table = self._table(frame.dtype)
            if table is None:
                return frame
            return np.take(table, frame.view(f"u{frame.dtype.itemsize}"), axis=0)
        return _to_uint8(self.to_unit(frame))

    def is_identity(self, dtype: np.dtype | type) -> bool:
        """Whether frames of `dtype` are displayed exactly as stored (8-bit RGB or plain grey)."""
        return self._table(np.dtype(dtype)) is None

    def _table(self, dtype: np.dtype) -> np.ndarray | None:
        """The lookup table for every value of `dtype`, None for identity."""
        if dtype not in self._tables:
            unsigned = np.arange(2 ** (8 * dtype.itemsize), dtype=f"u{dtype.itemsize}")
            values = unsigned.view(dtype)
            table = _to_uint8(self.to_unit(values))
            identity = table.ndim == 1 and dtype == np.uint8 and np.array_equal(table, unsigned)
            self._tables[dtype] = None if identity else np.ascontiguousarray(table)
        return self._tables[dtype]


def plan_display(
    header: Dataset, sample_frames: Callable[[], Iterable[np.ndarray]]
) -> DisplayMapping:
    """Choose, once per instance, how stored values become display values.

    Parameters
    ----------
    header : pydicom.dataset.Dataset
        The instance's elements before *Pixel Data*.
    sample_frames : callable
        Returns a few decoded frames; called only when a greyscale instance
        has no window and a robust one must be computed from the pixels.

    Returns
    -------
    DisplayMapping

    Raises
    ------
    PreviewError
        For a photometric interpretation that cannot be displayed.
    """
    header = flatten_functional_groups(header)
    photometric = str(header.get("PhotometricInterpretation", "")).strip()
    if photometric in GREY_PHOTOMETRICS:
        return _plan_grey(header, photometric, sample_frames)
    if photometric == "PALETTE COLOR":
        return _plan_palette(header)
    if photometric in COLOUR_PHOTOMETRICS:
        return _plan_colour(header)
    raise PreviewError(f"unsupported photometric interpretation {photometric or '(none)'}")


def flatten_functional_groups(header: Dataset) -> Dataset:
    """Copy an enhanced instance's shared rescale and window to the top level.

    Enhanced multi-frame objects keep *Rescale Slope* and *Window Center*
    in functional groups rather than at the top level. The first frame's
    values stand for the clip, which must be mapped the same way
    throughout to avoid flicker.
    """
    groups = [
        item
        for keyword in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence")
        for item in header.get(keyword, [])[:1]
    ]
    if not groups:
        return header
    flat = header.copy()
    moves = {
        "PixelValueTransformationSequence": ("RescaleSlope", "RescaleIntercept"),
        "FrameVOILUTSequence": ("WindowCenter", "WindowWidth", "VOILUTFunction"),
    }
    for group in groups:
        for sequence, keywords in moves.items():
            for item in group.get(sequence, [])[:1]:
                for keyword in keywords:
                    if keyword in item and keyword not in flat:
                        setattr(flat, keyword, item[keyword].value)
    return flat


def choose_voi(header: Dataset) -> Window | VoiLut | None:
    """The VOI the instance asks for: its VOI LUT, else its first window.

    Returns None when it has neither (or only unusable values).
    """
    for item in header.get("VOILUTSequence", [])[:1]:
        descriptor = item.get("LUTDescriptor")
        if descriptor and "LUTData" in item and int(descriptor[2]) in (8, *range(10, 17)):
            return VoiLut(header, int(descriptor[2]))
    center, width = _first_value(header.get("WindowCenter")), _first_value(header.get("WindowWidth"))
    if center is None or width is None:
        return None
    function = str(header.get("VOILUTFunction", "LINEAR")).strip().upper() or "LINEAR"
    if function not in ("LINEAR", "LINEAR_EXACT", "SIGMOID"):
        function = "LINEAR"
    # LINEAR needs a width of at least 1, the others more than 0.
    if width < (1 if function == "LINEAR" else 1e-9):
        return None
    return Window(center, width, function)


def percentile_window(modality_values: Iterable[np.ndarray]) -> LinearRange:
    """A robust window from the pixels themselves, for the whole clip.

    Parameters
    ----------
    modality_values : iterable of numpy.ndarray
        Frames already through the Modality LUT.

    Returns
    -------
    LinearRange
        From the ``PERCENTILE_LOW`` to the ``PERCENTILE_HIGH`` percentile of
        all the sampled pixels together.
    """
    pooled = np.concatenate([np.ravel(v) for v in modality_values])
    lower, upper = np.percentile(pooled, [PERCENTILE_LOW, PERCENTILE_HIGH])
    if upper <= lower:
        upper = lower + 1
    return LinearRange(float(lower), float(upper))


def stored_value_range(header: Dataset) -> tuple[int, int]:
    """The smallest and largest value *Bits Stored* can hold."""
    bits = int(header.get("BitsStored") or header.get("BitsAllocated") or 8)
    if int(header.get("PixelRepresentation", 0)) == 1:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def has_modality_transform(header: Dataset) -> bool:
    """Whether the Modality LUT changes stored values at all."""
    if header.get("ModalityLUTSequence"):
        return True
    slope = _first_value(header.get("RescaleSlope"))
    intercept = _first_value(header.get("RescaleIntercept"))
    return slope is not None and intercept is not None and (slope, intercept) != (1, 0)


def _plan_grey(header: Dataset, photometric: str, sample_frames: Callable) -> DisplayMapping:
    def modality(values: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return apply_modality_lut(values, header)

    voi = choose_voi(header)
    if voi is None and not has_modality_transform(header) and int(header.get("BitsStored", 8)) <= 8:
        # 8-bit data (most ultrasound) is stored ready to display: its full
        # range is the window, rather than a stretch of the sonographer's gain.
        voi = LinearRange(*stored_value_range(header))
    elif voi is None:
        frames = list(sample_frames())
        if not frames:
            raise PreviewError("no frame could be sampled to choose a window")
        voi = percentile_window(modality(f) for f in frames)

    # PS3.3 C.7.6.3.1.2: MONOCHROME1 shows the minimum as white; the
    # inversion comes after the VOI, whose window is in stored-value terms.
    inverted = photometric == "MONOCHROME1" or (
        str(header.get("PresentationLUTShape", "")).strip() == "INVERSE"
    )

    def to_unit(values: np.ndarray) -> np.ndarray:
        unit = voi(modality(values))
        return 1.0 - unit if inverted else unit

    return DisplayMapping("gray", to_unit, voi)


def _plan_palette(header: Dataset) -> DisplayMapping:
    descriptor = header.get("RedPaletteColorLookupTableDescriptor")
    if not descriptor:
        raise PreviewError("PALETTE COLOR without a palette lookup table")
    # The nominal depth says how to read the entries, even when 8-bit
    # entries are stored in 16-bit words.
    scale = float(2 ** int(descriptor[2]) - 1)
    # OW LUT data keeps the file's byte order, and pydicom reads plain LUT data in the machine's:
    # a big endian palette is handed over little endian (segmented ones too), else it shows black.
    syntax = header.file_meta.get("TransferSyntaxUID") if hasattr(header, "file_meta") else None
    try:
        palette = palette_dataset(header, little_endian=syntax is None or UID(syntax).is_little_endian)
    except AnonymizationError as exc:
        raise PreviewError(str(exc)) from exc

    def to_unit(values: np.ndarray) -> np.ndarray:
        try:
            rgb = apply_color_lut(values, palette)
        except (ValueError, NotImplementedError) as exc:
            raise PreviewError(f"the palette cannot be applied: {exc}") from exc
        return rgb[..., :3] / scale

    return DisplayMapping("rgb24", to_unit)


def _plan_colour(header: Dataset) -> DisplayMapping:
    if int(header.get("SamplesPerPixel", 3)) != 3:
        raise PreviewError("colour data must have 3 samples per pixel")
    bits = int(header.get("BitsStored") or header.get("BitsAllocated") or 8)
    scale = float(2**bits - 1)

    def to_unit(values: np.ndarray) -> np.ndarray:
        return values / scale

    return DisplayMapping("rgb24", to_unit)


def _to_uint8(unit: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(unit * 255.0), 0, 255).astype(np.uint8)


def _first_value(value) -> float | None:
    """A DS/IS element's first value as float; None when absent or not finite."""
    if value is None or value == "":
        return None
    if not isinstance(value, (int, float, str)):
        value = list(value)
        if not value:
            return None
        value = value[0]
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
