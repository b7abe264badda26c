"""How good a new link passcode must be (per share, or the clinic's for all its links)."""

from __future__ import annotations

from django.core.exceptions import ValidationError

PASSCODE_MIN_LENGTH = 6


def validate_passcode(passcode: str) -> None:
    """Refuse a new passcode shorter than PASSCODE_MIN_LENGTH (blank means no passcode)."""
    if passcode and len(passcode) < PASSCODE_MIN_LENGTH:
        raise ValidationError(f"A passcode needs at least {PASSCODE_MIN_LENGTH} characters.")
