from __future__ import annotations

import pytest

from sharing.delivery import text_backends
from sharing.models import Share, Study
from tests.conftest import upload_files

# What the exam fixture carries, and must never leave the portal towards the patient.
IDENTIFIERS = ["DOE", "JANE", "PID-4711", "19870615", "20240312", "SONO", "North Clinic", "DOC^DANA", "DANA"]


@pytest.fixture(autouse=True)
def sms_outbox(settings):
    """Text messages (SMS and WhatsApp) collect in memory; each carries its channel."""
    settings.SMS_BACKEND = settings.WHATSAPP_BACKEND = "locmem"
    text_backends.outbox.clear()
    return text_backends.outbox


@pytest.fixture
def study(api, exam) -> Study:
    response = upload_files(api, exam)
    assert response.status_code == 201, response.content
    return Study.objects.get(pk=response.json()["studies"][0]["id"])


@pytest.fixture
def pipeline_in_this_process(monkeypatch):
    """For tests that commit their shares (live_server, transaction=True) and run the pipeline here:
    the session's real Celery worker, started by earlier worker tests, consumes the same Redis queues
    and would race this process for the share (and mail it to its own outbox). Nothing is published
    to the broker; the test drives every stage itself through `run_pipeline`."""
    monkeypatch.setattr("sharing.tasks.enqueue", lambda *args, **kwargs: None)


def run_pipeline(share: Share) -> Share:
    """Run the share's stages in this process through the life cycle's entry point, as the workers
    would (their tasks are thin wrappers around the same calls)."""
    from sharing.shares import lifecycle

    share.refresh_from_db()
    lifecycle.run_here(share.pk, share.generation)
    share.refresh_from_db()
    return share


def link_from(text: str) -> str:
    import re

    match = re.search(r"https?://\S+/p/[A-Za-z0-9_\-]+", text)
    assert match, "the message carries the patient's link"
    return match.group(0)
