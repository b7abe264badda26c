"""Date and time transforms: year only, decade only, keyed shift.

Values that are not parseable dates are emptied rather than passed through:
a malformed date may still be a real one written differently.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac

# Longest backward shift for the Modified Dates option: about ten years, so
# the year itself is not a reliable clue while intervals stay exact.
MAX_SHIFT_DAYS = 3652


def year_only_date(value: str) -> str:
    """Return ``YYYY0101`` for a DA value (``19870615`` -> ``19870101``), else ``""``."""
    text = value.strip()
    return f"{text[:4]}0101" if len(text) >= 4 and text[:4].isdigit() else ""


def decade_only_date(value: str) -> str:
    """Return ``YYY00101`` for a DA value (``19870615`` -> ``19800101``), else ``""``."""
    text = value.strip()
    return f"{text[:3]}00101" if len(text) >= 4 and text[:4].isdigit() else ""


def year_only_datetime(value: str) -> str:
    """Return ``YYYY`` (a valid DT) for a DT value, else ``""``."""
    text = value.strip()
    return text[:4] if len(text) >= 4 and text[:4].isdigit() else ""


def date_shift_days(key: bytes, patient_key: str) -> int:
    """Days to move this patient's dates back, derived from ``key``.

    Every date of one patient moves by the same amount, so intervals between
    exams survive; the amount is keyed so it cannot be guessed without the key.
    """
    digest = hmac.new(key, b"date-shift:" + patient_key.encode("utf-8", "replace"), hashlib.sha256).digest()
    return 1 + int.from_bytes(digest[:4], "big") % MAX_SHIFT_DAYS


def shift_date(value: str, days: int) -> str:
    """Move a DA value ``days`` back; unparseable values become ``""``."""
    text = value.strip()
    try:
        parsed = datetime.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except (ValueError, IndexError):
        return ""
    return (parsed - datetime.timedelta(days=days)).strftime("%Y%m%d")


def shift_datetime(value: str, days: int) -> str:
    """Move the date part of a DT value ``days`` back; time and offset stay."""
    text = value.strip()
    if len(text) < 8:
        return year_only_datetime(text)
    shifted = shift_date(text[:8], days)
    return shifted + text[8:] if shifted else ""
