"""One pipeline run per share at a time: a run takes the share's lease, renews it as it makes
progress (see `lifecycle.report_step`), and releases it when done. A killed worker's lease simply
runs out, so a later run can take the share over."""

from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from ..models import Share


class LeaseLost(Exception):
    """Our lease ran out and another run took the share over: stop writing, it finishes the work."""


def lease_expiry() -> dt.datetime:
    """When a lease taken or renewed now runs out (SHARE_LEASE_SECONDS)."""
    return timezone.now() + dt.timedelta(seconds=settings.SHARE_LEASE_SECONDS)


def acquire_lease(share: Share) -> str | None:
    """Take the share's lease if nobody holds it, atomically.

    Returns
    -------
    str or None
        Our owner token, to renew and release the lease with; None when another run holds it.
    """
    now = timezone.now()
    owner = uuid.uuid4().hex
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    taken = Share.objects.filter(free, pk=share.pk).update(lease_until=lease_expiry(), lease_owner=owner, updated_at=now)
    return owner if taken == 1 else None


def release_lease(share: Share, owner: str) -> None:
    """Give the lease back. Only our own: after a stall, the lease may belong to a newer run."""
    Share.objects.filter(pk=share.pk, lease_owner=owner).update(lease_until=None, lease_owner="")
