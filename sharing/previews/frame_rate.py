"""The playback rate of a multi-frame instance."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction

from pydicom.dataset import Dataset

DEFAULT_FRAME_RATE = Fraction(30)

# A rational with a denominator this small is exact for every rate a
# modality writes (33.333 ms -> 30/1, 40 ms -> 25/1, 33.367 ms -> 2997/100)
# and keeps the MP4 time base simple.
MAX_DENOMINATOR = 100

# Outside this range a value is a typo or a unit mix-up, not a frame rate.
_SLOWEST, _FASTEST = Fraction(1, 60), Fraction(1000)


def clip_frame_rate(header: Dataset) -> Fraction:
    """Frames per second, from the first usable attribute.

    The order is that of PS3.3 C.7.6.5 (Cine Module) and the US/XA
    conventions: *Frame Time* (ms per frame), the mean of *Frame Time
    Vector* without its first entry (which is always 0, the time of the
    first frame), *Cine Rate*, *Recommended Display Frame Rate*, else 30.

    Parameters
    ----------
    header : pydicom.dataset.Dataset

    Returns
    -------
    fractions.Fraction
        With a denominator of at most ``MAX_DENOMINATOR``.
    """
    for rate in (
        _per_millisecond(_numbers(header.get("FrameTime"))[:1]),
        _per_millisecond(_numbers(header.get("FrameTimeVector"))[1:]),
        _per_second(header.get("CineRate")),
        _per_second(header.get("RecommendedDisplayFrameRate")),
    ):
        if rate is not None and _SLOWEST <= rate <= _FASTEST:
            return rate.limit_denominator(MAX_DENOMINATOR)
    return DEFAULT_FRAME_RATE


def _numbers(value) -> list[Fraction]:
    """Exact decimal values of a DS/IS element, skipping unreadable ones."""
    if value is None or value == "":
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        value = [value]
    numbers = []
    for v in value:
        try:
            # str() keeps the decimal as written, so 33.333 stays 33333/1000.
            numbers.append(Fraction(str(v).strip()))
        except (ValueError, ZeroDivisionError):
            continue
    return numbers


def _per_millisecond(milliseconds: list[Fraction]) -> Fraction | None:
    if not milliseconds:
        return None
    mean = sum(milliseconds) / len(milliseconds)
    return Fraction(1000) / mean if mean > 0 else None


def _per_second(value) -> Fraction | None:
    numbers = _numbers(value)
    return numbers[0] if numbers and numbers[0] > 0 else None
