"""A link's passcode lockout: wrong guesses lock out the guessing address, under a ceiling per link.

A wrong guess is counted twice, in the database (every web process sees the same counts):

- for the link from this client address: PASSCODE_ADDRESS_ATTEMPTS, then that address waits
  PASSCODE_LOCKOUT. A stranger who has the link and guesses locks out only their own address,
  not the patient on their phone;
- for the link from all addresses together: PASSCODE_LINK_ATTEMPTS (a higher ceiling), then the
  link waits PASSCODE_LOCKOUT for everyone, so guessing from many addresses still ends.

Each attempt is charged before the passcode is checked, in one atomic UPDATE per counter, so
parallel guesses all count and no more than the limit are ever checked. The address is kept only
as a keyed hash.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac

from django.conf import settings
from django.db.models import F, QuerySet
from django.db.models.functions import Greatest
from django.utils import timezone

from ..models import PasscodeAttempts, Share

PASSCODE_LOCKOUT = dt.timedelta(minutes=15)  # the patient's page says "wait 15 minutes"


class Attempt(enum.Enum):
    RIGHT = "right"
    WRONG = "wrong"
    LOCKED = "locked"


def client_key(address: str) -> str:
    """A keyed hash of the client address: counts per address without storing the address."""
    return hmac.new(settings.SECRET_KEY.encode(), f"passcode-client:{address}".encode(), hashlib.sha256).hexdigest()


def is_locked(share: Share, address: str) -> bool:
    """True while this address, or the link as a whole, is locked out."""
    now = timezone.now()
    if share.passcode_locked_until and share.passcode_locked_until > now:
        return True
    return PasscodeAttempts.objects.filter(share=share, client=client_key(address), locked_until__gt=now).exists()


def try_passcode(share: Share, address: str, passcode: str) -> tuple[Attempt, bool]:
    """Charge one attempt to the address and to the link, then check the passcode if both allow it.

    Returns
    -------
    (Attempt, bool)
        Whether it was right, wrong or refused as locked, and whether the address or link is locked now.
    """
    now = timezone.now()
    if is_locked(share, address):
        return Attempt.LOCKED, True
    by_address = address_counter(share, address)
    by_link = Share.objects.filter(pk=share.pk)
    address_count = charge(by_address, "failures", "locked_until", now)
    link_count = charge(by_link, "failed_passcode_attempts", "passcode_locked_until", now)
    address_limit, link_limit = settings.PASSCODE_ADDRESS_ATTEMPTS, settings.PASSCODE_LINK_ATTEMPTS
    if address_count > address_limit or link_count > link_limit:
        # Over a limit: not checked at all, not even if it is right.
        if address_count > address_limit:
            lock(by_address, "locked_until", now)
        if link_count > link_limit:
            lock(by_link, "passcode_locked_until", now)
        return Attempt.LOCKED, True
    if share.check_passcode(passcode):
        by_address.delete()
        # A right passcode is not a failure: take back this attempt's charge on the link.
        by_link.update(failed_passcode_attempts=Greatest(F("failed_passcode_attempts") - 1, 0))
        return Attempt.RIGHT, False
    address_locked, link_locked = address_count >= address_limit, link_count >= link_limit
    if address_locked:
        lock(by_address, "locked_until", now)
    if link_locked:
        lock(by_link, "passcode_locked_until", now)
    return Attempt.WRONG, address_locked or link_locked


def address_counter(share: Share, address: str) -> QuerySet:
    key = client_key(address)
    PasscodeAttempts.objects.get_or_create(share=share, client=key)
    return PasscodeAttempts.objects.filter(share=share, client=key)


def charge(counter: QuerySet, count_field: str, locked_field: str, now: dt.datetime) -> int:
    """Add one attempt to a counter row and return its new count.

    A lockout that has run out starts a fresh window; the condition on its time makes exactly one
    request reset it. A count is never reset on lockout, so parallel guesses keep counting.
    """
    counter.filter(**{f"{locked_field}__lte": now}).update(**{count_field: 0, locked_field: None})
    counter.update(**{count_field: F(count_field) + 1})
    return counter.values_list(count_field, flat=True).get()


def lock(counter: QuerySet, locked_field: str, now: dt.datetime) -> None:
    """Start the lockout once; a later request does not push its end further out."""
    counter.filter(**{f"{locked_field}__isnull": True}).update(**{locked_field: now + PASSCODE_LOCKOUT})
