"""One pipeline run per share at a time: a run takes the share's lease, renews it as it makes
progress (see `lifecycle.report_step`), and releases it when done. A killed worker's lease simply
runs out, so a later run can take the share over."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid

from django.conf import settings
from django.db import connections, transaction
from django.db.models import Q
from django.utils import timezone

from ..models import Share


log = logging.getLogger(__name__)


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


def ensure_held(share: Share, owner: str) -> None:
    """Raise LeaseLost unless we still hold the share's lease; call it inside the transaction that
    writes, so the row lock keeps a newer run from taking over between the check and the write."""
    if not Share.objects.select_for_update().filter(pk=share.pk, lease_owner=owner).exists():
        raise LeaseLost


def write_while_held(share: Share, owner: str, write):
    """Run `write()` in one transaction, only while we hold the lease: a run that lost its lease
    must not record results (its scratch files may be gone, the newer run owns the share now)."""
    with transaction.atomic():
        ensure_held(share, owner)
        return write()


class LeaseKeeper:
    """Renews our lease every third of SHARE_LEASE_SECONDS while a run works, in a thread: one
    instance (a long clip) may take longer than a lease, and a run must not lose its share to the
    sweep merely for being slow. A killed worker's keeper dies with it, so its lease still runs out."""

    def __init__(self, share: Share, owner: str):
        self.share_id, self.owner = share.pk, owner
        self.interval = max(0.5, settings.SHARE_LEASE_SECONDS / 3)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.keep, name=f"lease-{share.pk}", daemon=True)

    def __enter__(self) -> "LeaseKeeper":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.thread.join()

    def keep(self) -> None:
        try:
            while not self.stopped.wait(self.interval):
                try:
                    renewed = Share.objects.filter(pk=self.share_id, lease_owner=self.owner).update(
                        lease_until=lease_expiry(), updated_at=timezone.now())
                except Exception:
                    # A busy database (SQLite's lock) or a dropped connection: try again next time;
                    # the lease lasts three intervals.
                    log.warning("share %s: the lease could not be renewed now", self.share_id, exc_info=True)
                    connections.close_all()
                    continue
                if not renewed:
                    return  # taken over: the run notices at its next write
        finally:
            connections.close_all()  # this thread's own connections only
