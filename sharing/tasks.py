"""Celery tasks: thin, idempotent, taking ids only (never PHI), calling services.

acks_late + reject_on_worker_lost (settings): a task whose worker is killed is delivered again,
and the services make the second run finish the work rather than repeat it.
"""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task
from django.conf import settings
from django.utils import timezone

log = logging.getLogger(__name__)

DELIVERY_RETRIES = 8


@shared_task(name="sharing.heartbeat", ignore_result=True)
def heartbeat() -> None:
    """Prove a worker is consuming the queue: the health check reads the time it writes."""
    path = settings.DATA_DIR / "worker-heartbeat"
    path.write_text(timezone.now().isoformat())


@shared_task(name="sharing.prepare_share", bind=True, ignore_result=True, max_retries=None)
def prepare_share(self, share_id: int, generation: int) -> None:
    from .shares.pipeline import BUSY, DELIVER, prepare_share as prepare

    outcome = prepare(share_id, generation)
    if outcome == DELIVER:
        deliver_share.apply_async((share_id, generation), queue="deliver")
    elif outcome == BUSY:
        # Another run holds the share; what this task was asked for (a resend, an accepted image)
        # must not be dropped, so try again once that run is likely done. Leases expire, so this ends.
        raise self.retry(countdown=settings.SHARE_BUSY_RETRY_SECONDS)


@shared_task(
    name="sharing.deliver_share", bind=True, ignore_result=True, max_retries=DELIVERY_RETRIES,
)
def deliver_share(self, share_id: int, generation: int) -> None:
    from .delivery.service import PermanentDeliveryError, TransientDeliveryError, deliver_share as deliver, mark_failed
    from .models import Share

    try:
        deliver(share_id, generation)
    except PermanentDeliveryError as exc:
        mark_failed(Share.objects.get(pk=share_id), str(exc))
    except TransientDeliveryError as exc:
        if self.request.retries >= self.max_retries:
            mark_failed(Share.objects.get(pk=share_id), f"gave up after {self.max_retries} attempts: {exc}")
            return
        # Exponential backoff, capped at 10 minutes: 5 s, 10 s, 20 s ... 
        countdown = min(600, int(getattr(settings, "DELIVERY_RETRY_BASE_SECONDS", 5)) * 2 ** self.request.retries)
        log.warning("share %s delivery deferred (%s); retry in %ss", share_id, exc, countdown)
        # Tell staff, and keep the sweep from starting a second chain while this retry is pending.
        now = timezone.now()
        Share.objects.filter(pk=share_id).update(
            step="waiting to retry delivery", updated_at=now, dispatched_at=now + dt.timedelta(seconds=countdown)
        )
        raise self.retry(countdown=countdown, exc=exc)


@shared_task(name="sharing.sweep_stuck_shares", ignore_result=True)
def sweep_stuck_shares() -> None:
    from .shares.sweep import sweep_stuck_shares as sweep

    sweep()
