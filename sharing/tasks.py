"""Celery tasks: thin, idempotent, taking ids only (never PHI), calling services."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.utils import timezone


@shared_task(name="sharing.heartbeat", ignore_result=True)
def heartbeat() -> None:
    """Prove a worker is consuming the queue: the health check reads the time it writes."""
    path = settings.DATA_DIR / "worker-heartbeat"
    path.write_text(timezone.now().isoformat())
