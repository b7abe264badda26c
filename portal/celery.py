"""The Celery application. Tasks subclass celery.contrib.django's DjangoTask, which
gives `delay_on_commit`: nothing is enqueued for a transaction that rolls back."""

import os

from celery import Celery
from celery.signals import worker_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal", task_cls="celery.contrib.django.task:DjangoTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def check_text_detection_models(**kwargs):
    """Every worker may anonymize: a missing or broken OCR model stops it at start, loudly,
    instead of leaving every image of every share unverified."""
    from anonymizer.pixels import TextEngineUnavailable, check_text_engine

    try:
        check_text_engine()
    except TextEngineUnavailable as exc:
        # Celery logs and swallows exceptions from signal handlers; SystemExit stops the worker.
        raise SystemExit(f"worker cannot start: {exc}") from None


@worker_process_init.connect
def load_text_detection_models(**kwargs):
    """Load the models once per pool process (about a second), not once per file."""
    from anonymizer.pixels import load_text_engine

    load_text_engine()
