"""The portal's use of the anonymizer library: per-clinic keys and the strict profile."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from django.conf import settings


def clinic_key(clinic_id: int) -> bytes:
    """The HMAC key for a clinic's UID remapping.

    Derived from the portal's ANONYMIZER_KEY, so each clinic's new UIDs are stable across jobs
    (re-shares and re-sends map to the same UIDs) and no two clinics share a mapping.
    """
    return hmac.new(settings.ANONYMIZER_KEY.encode(), f"clinic:{clinic_id}".encode(), hashlib.sha256).digest()


def anonymize_strict(src: Path, dst: Path, *, clinic_id: int, accept_unverified: bool = False, blackout=()):
    """Apply the strict profile to one file with the clinic's key; returns the AnonymizationResult.

    ``blackout`` holds the ``(x0, y0, x1, y1)`` boxes staff asked to black out in review.
    """
    from anonymizer import anonymize_file, strict_profile

    return anonymize_file(
        src, dst, profile=strict_profile(), key=clinic_key(clinic_id), accept_unverified=accept_unverified,
        blackout=blackout,
    )
