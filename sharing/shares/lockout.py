"""A link's passcode and its lockout: PASSCODE_ATTEMPTS wrong tries lock the link for
PASSCODE_LOCKOUT, whoever makes them."""

from __future__ import annotations

import datetime as dt
import enum

from django.db.models import F
from django.utils import timezone

from ..models import Share

PASSCODE_ATTEMPTS = 5
PASSCODE_LOCKOUT = dt.timedelta(minutes=15)


class Attempt(enum.Enum):
    RIGHT = "right"
    WRONG = "wrong"
    LOCKED = "locked"


def is_locked(share: Share) -> bool:
    return bool(share.passcode_locked_until and share.passcode_locked_until > timezone.now())


def try_passcode(share: Share, passcode: str) -> tuple[Attempt, bool]:
    """Check one passcode attempt on a link that is not locked.

    Returns
    -------
    (Attempt, bool)
        Whether it was right, wrong or refused as locked, and whether the link is locked now.
    """
    now = timezone.now()
    if share.passcode_locked_until:
        # An expired lockout starts a fresh window; the condition makes exactly one request reset it.
        Share.objects.filter(pk=share.pk, passcode_locked_until=share.passcode_locked_until).update(
            failed_passcode_attempts=0, passcode_locked_until=None
        )
    # Charge the attempt before checking it, in one atomic UPDATE, and never reset the count on
    # lockout: parallel guesses each count, so no more than PASSCODE_ATTEMPTS are ever checked.
    Share.objects.filter(pk=share.pk).update(failed_passcode_attempts=F("failed_passcode_attempts") + 1)
    attempts = Share.objects.values_list("failed_passcode_attempts", flat=True).get(pk=share.pk)
    if attempts > PASSCODE_ATTEMPTS:
        outcome, locked = Attempt.LOCKED, True
    elif share.check_passcode(passcode):
        Share.objects.filter(pk=share.pk).update(failed_passcode_attempts=0, passcode_locked_until=None)
        return Attempt.RIGHT, False
    else:
        outcome, locked = Attempt.WRONG, attempts >= PASSCODE_ATTEMPTS
    if locked:
        Share.objects.filter(pk=share.pk, passcode_locked_until__isnull=True).update(passcode_locked_until=now + PASSCODE_LOCKOUT)
    return outcome, locked
