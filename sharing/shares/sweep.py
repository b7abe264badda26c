"""Find shares stuck in queued or processing longer than a limit and dispatch them again.

This is the other half of the transactional outbox: a share whose enqueue failed (broker down)
or whose task was lost is still a queued row in the database, and the sweep picks it up. The
pipeline is idempotent, so re-dispatching a share that is merely slow costs little.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from ..models import Share
from . import lifecycle

log = logging.getLogger(__name__)


def stuck_shares(*, older_than: dt.timedelta | None = None):
    limit = older_than or dt.timedelta(seconds=settings.SHARE_STUCK_AFTER_SECONDS)
    cutoff = timezone.now() - limit
    return Share.objects.filter(
        Q(status=Share.Status.QUEUED) | Q(status=Share.Status.PROCESSING), revoked_at__isnull=True, updated_at__lt=cutoff,
    ).filter(Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=cutoff))


def sweep_stuck_shares(*, older_than: dt.timedelta | None = None) -> list[int]:
    """Re-dispatch stuck shares; one stuck more than SHARE_MAX_SWEEPS times is failed, so staff
    see it instead of a share that says "processing" forever. Contacts held by links that have
    ended are erased on the way."""
    lifecycle.erase_expired_contacts()
    ids = []
    for share in stuck_shares(older_than=older_than):
        if share.sweep_count >= settings.SHARE_MAX_SWEEPS:
            lifecycle.gave_up(share, f"the pipeline did not finish after {share.sweep_count + 1} attempts; "
                                     "resend it, or ask your administrator to check the worker logs")
            continue
        lifecycle.redispatched(share)
        ids.append(share.pk)
    if ids:
        log.warning("sweep re-dispatched %d stuck share(s): %s", len(ids), ids)
    return ids
