"""Celery messages are free of PHI: every task takes ids only, and the messages actually published
for a share (create, prepare -> deliver, resend) carry no identifier, contact or link token."""

from __future__ import annotations

import inspect
import json

import pytest
from celery import signals
from django.core import mail

from portal.celery import app
from sharing import tasks
from sharing.models import Share
from sharing.shares import service
from tests.sharing.conftest import IDENTIFIERS, link_from

EMAIL = "jane.doe@example.org"
ID_NAMES = ("share_id", "generation", "study_id", "instance_id", "clinic_id")


def task_functions():
    return {name: task for name, task in vars(tasks).items() if hasattr(task, "apply_async") and hasattr(task, "run")}


def test_every_task_takes_ids_only():
    found = task_functions()
    assert {"prepare_share", "deliver_share"} <= set(found)
    for name, task in found.items():
        for parameter in inspect.signature(task.run).parameters.values():
            assert parameter.annotation in (int, "int"), f"{name}({parameter.name}) is not an int id"
            assert parameter.name in ID_NAMES or parameter.name.endswith("_id"), f"{name}({parameter.name})"


@pytest.fixture
def published():
    """Messages published to an in-memory broker (the real serializer and publish path, no Redis)."""
    messages = []

    def capture(sender=None, body=None, headers=None, exchange=None, routing_key=None, **kwargs):
        messages.append({"task": sender, "body": body, "headers": headers, "routing_key": routing_key})

    saved = app.conf.broker_url, app.conf.broker_transport_options
    app.conf.broker_url, app.conf.broker_transport_options = "memory://", {}
    app._pool = None
    app.amqp._producer_pool = None
    with app.connection_for_write() as connection:
        assert connection.transport_cls == "memory", "the test publishes to memory, never to a shared Redis"
    signals.before_task_publish.connect(capture, weak=False)
    yield messages
    signals.before_task_publish.disconnect(capture)
    app.conf.broker_url, app.conf.broker_transport_options = saved
    app._pool = None
    app.amqp._producer_pool = None


@pytest.mark.django_db
def test_messages_published_for_a_share_hold_ids_only(published, north, django_capture_on_commit_callbacks):
    study = north.study
    with django_capture_on_commit_callbacks(execute=True):
        share = service.create_share(service.ShareRequest(study=study, email=EMAIL))
    share.refresh_from_db()
    assert share.dispatched_at is not None, "the share was published"
    tasks.prepare_share.run(share.pk, share.generation)  # the worker's step; it publishes delivery
    from sharing.delivery.service import deliver_share

    deliver_share(share.pk, share.generation)  # the delivery worker's step: the message holds the link
    token = link_from(mail.outbox[-1].body).rsplit("/", 1)[1]
    with django_capture_on_commit_callbacks(execute=True):
        service.resend_share(Share.objects.get(pk=share.pk), email=EMAIL)

    names = [m["task"] for m in published]
    assert names.count("sharing.prepare_share") == 2 and "sharing.deliver_share" in names, names
    wire = json.dumps(published, default=str)
    for secret in [token, EMAIL, "jane.doe", study.study_instance_uid, *IDENTIFIERS]:
        assert secret.upper() not in wire.upper(), f"{secret!r} is in a Celery message"
    for message in published:
        args = message["body"][0] if isinstance(message["body"], (list, tuple)) else message["headers"].get("argsrepr")
        assert all(isinstance(a, int) for a in args), f"{message['task']} was sent {args!r}"
