"""Celery tasks: thin, idempotent, taking ids only (never PHI). Each runs one stage of a share's
life cycle and carries out what `lifecycle` says follows; none of them decides anything.

acks_late + reject_on_worker_lost (settings): a task whose worker is killed is delivered again,
and the services make the second run finish the work rather than repeat it.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.utils import timezone

log = logging.getLogger(__name__)


@shared_task(name="sharing.heartbeat", ignore_result=True)
def heartbeat() -> None:
    """Prove a worker is consuming the queue: the health check reads the time it writes."""
    path = settings.DATA_DIR / "worker-heartbeat"
    path.write_text(timezone.now().isoformat())


@shared_task(name="sharing.prepare_share", bind=True, ignore_result=True, max_retries=None)
def prepare_share(self, share_id: int, generation: int) -> None:
    from .shares import lifecycle

    follow(self, share_id, generation, lifecycle.prepare(share_id, generation))


# The life cycle bounds delivery retries (lifecycle.DELIVERY_RETRIES) and fails the share after them.
@shared_task(name="sharing.deliver_share", bind=True, ignore_result=True, max_retries=None)
def deliver_share(self, share_id: int, generation: int) -> None:
    from .shares import lifecycle

    follow(self, share_id, generation, lifecycle.deliver(share_id, generation, attempt=self.request.retries))


@shared_task(name="sharing.sweep_stuck_shares", ignore_result=True)
def sweep_stuck_shares() -> None:
    from .shares.sweep import sweep_stuck_shares as sweep

    sweep()


# Each stage's task and the queue its workers consume (render work and delivery scale apart).
STAGE_TASKS = {"prepare": (prepare_share, "render"), "deliver": (deliver_share, "deliver")}


def enqueue(stage: str, share_id: int, generation: int, *, countdown: int = 0, retry: bool = True) -> None:
    """Publish the task of `stage` for a share; `retry=False` fails fast when the broker is down."""
    task, queue = STAGE_TASKS[stage]
    task.apply_async((share_id, generation), queue=queue, countdown=countdown or None, retry=retry)


def follow(task, share_id: int, generation: int, follow_up) -> None:
    """Carry out `follow_up` (a lifecycle.Next): the same stage again is a Celery retry (it keeps
    the attempt count), another stage is a new task, and no stage is the end of the chain."""
    if follow_up.stage is None:
        return
    if STAGE_TASKS[follow_up.stage][0].name == task.name:
        raise task.retry(countdown=follow_up.countdown)
    enqueue(follow_up.stage, share_id, generation, countdown=follow_up.countdown)
