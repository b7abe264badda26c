"""Nothing lost: a killed worker, Redis down, stuck shares, SMTP and SMS failures. Real processes
throughout: the worker, Redis, an SMTP server and a Twilio stand-in on loopback."""

from __future__ import annotations

import time
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from sharing.models import Share, ShareEvent
from tests.conftest import upload_files, wait_until
from tests.integration.reliability.conftest import long_clip

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.integration]

FAST_SWEEP = {"SHARE_STUCK_AFTER_SECONDS": "2", "SHARE_SWEEP_INTERVAL_SECONDS": "1", "SHARE_LEASE_SECONDS": "4",
              "SHARE_BUSY_RETRY_SECONDS": "1", "SHARE_MAX_SWEEPS": "100"}


def wait_final(share_id: int, timeout: float = 150) -> Share:
    def final():
        share = Share.objects.get(pk=share_id)
        return share if share.status in ("sent", "failed") else None

    return wait_until(final, timeout=timeout, what=f"share {share_id} to finish")


def delivered_count(share_id: int) -> int:
    return ShareEvent.objects.filter(share_id=share_id, kind=ShareEvent.Kind.DELIVERED).count()


def share(api, study_id: int, **contact) -> int:
    response = api.post("/api/v1/shares/", {"study": study_id, **contact}, format="json")
    assert response.status_code == 202, response.content
    return response.json()["id"]


def only_study(api) -> int:
    return api.get("/api/v1/studies/").json()["results"][0]["id"]


def test_worker_killed_mid_pipeline_then_restarted_delivers_exactly_once(own_worker, api, tmp_path):
    upload_files(api, [long_clip(tmp_path / "clip.dcm", frames=600)])
    worker = own_worker(beat=True, **FAST_SWEEP)
    share_id = share(api, only_study(api), email="patient@example.org")

    wait_until(lambda: Share.objects.get(pk=share_id).step in ("anonymizing", "rendering"), timeout=60,
               interval=0.05, what="the pipeline to start")
    worker.kill()
    killed = Share.objects.get(pk=share_id)
    assert killed.status == "processing" and killed.items.count() == 0, "killed mid-work, before publishing"

    own_worker(beat=True, **FAST_SWEEP)
    done = wait_final(share_id)
    assert done.status == "sent", done.error
    assert delivered_count(share_id) == 1, "exactly one message"
    assert done.items.count() == 1
    item = done.items.get()
    assert item.kind == "clip" and item.frames == 600
    assert item.media.storage.exists(item.media.name)
    key = f"share-{done.public_id.hex}-1.eml"
    assert (Path(settings.EMAIL_OUTBOX_DIR) / key).exists()
    leftovers = list(Path(settings.FILE_UPLOAD_TEMP_DIR).glob(f"share-{done.public_id.hex}*"))
    assert leftovers == [], "the dead run's scratch files are cleared"


def test_share_requested_while_redis_is_down_is_delivered_once_it_is_back(own_worker, redis_server, api, exam):
    upload_files(api, exam)
    own_worker(beat=True, **FAST_SWEEP)
    redis_server.stop()

    started = time.monotonic()
    share_id = share(api, only_study(api), email="patient@example.org")
    assert time.monotonic() - started < 10, "the request does not hang on the broker"
    time.sleep(3)
    waiting = Share.objects.get(pk=share_id)
    assert waiting.status == "queued" and waiting.dispatched_at is None and waiting.items.count() == 0

    redis_server.start()
    done = wait_final(share_id)
    assert done.status == "sent", done.error
    assert delivered_count(share_id) == 1


def test_sweep_finds_reports_and_redispatches_stuck_shares(own_worker, api, exam, redis_server):
    upload_files(api, exam)
    redis_server.stop()  # the enqueue is lost: the share is stuck in "queued"
    share_id = share(api, only_study(api), email="patient@example.org")
    redis_server.start()
    own_worker()  # no beat: the sweep runs only when we say so

    out = StringIO()
    call_command("sweep_shares", "--dry-run", stdout=out)
    assert "0 share(s) stuck" in out.getvalue(), "not stuck before the limit"
    Share.objects.filter(pk=share_id).update(updated_at=Share.objects.get(pk=share_id).created_at.replace(year=2000))
    call_command("sweep_shares", "--dry-run", stdout=out)
    assert f"1 share(s) stuck: {share_id}" in out.getvalue()
    call_command("sweep_shares", stdout=out)
    assert f"re-dispatched: {share_id}" in out.getvalue()
    done = wait_final(share_id)
    assert done.status == "sent" and delivered_count(share_id) == 1


def test_smtp_deferrals_are_retried_then_delivered_once(own_worker, smtp_server, api, exam):
    upload_files(api, exam)
    smtp = smtp_server(["451 4.3.0 Try again later", "451 4.3.0 Try again later"])
    own_worker(EMAIL_URL=f"smtp://127.0.0.1:{smtp.port}", DELIVERY_RETRY_BASE_SECONDS="0")
    share_id = share(api, only_study(api), email="patient@example.org")
    done = wait_final(share_id)
    assert done.status == "sent", done.error
    assert len(smtp.received) == 1, "one message reached the server"
    assert delivered_count(share_id) == 1


def test_smtp_refusal_is_marked_failed_and_visible_to_staff(own_worker, smtp_server, api, exam):
    upload_files(api, exam)
    smtp = smtp_server(["550 5.1.1 No such user"])
    own_worker(EMAIL_URL=f"smtp://127.0.0.1:{smtp.port}")
    share_id = share(api, only_study(api), email="patient@example.org")
    done = wait_final(share_id)
    assert done.status == "failed"
    body = api.get(f"/api/v1/shares/{share_id}/").json()
    assert body["status"] == "failed" and "550" in body["error"]
    assert "patient@" not in body["error"]
    assert done.delivery_secret is None, "nothing will be sent: the contact is erased"


def test_sms_provider_errors_are_retried_and_refusals_fail(own_worker, twilio, api, exam):
    upload_files(api, exam)
    fake = twilio([503, 201, 400])
    own_worker(SMS_BACKEND="twilio", TWILIO_ACCOUNT_SID="AC123", TWILIO_AUTH_TOKEN="secret",
               TWILIO_FROM_NUMBER="+15005550006", TWILIO_API_BASE=fake.url, DELIVERY_RETRY_BASE_SECONDS="0")
    study_id = only_study(api)
    retried = wait_final(share(api, study_id, phone="+1 202 555 0143"))
    assert retried.status == "sent"
    first_two = fake.requests[:2]
    assert len({r["key"] for r in first_two}) == 1, "the retry carries the same idempotency key"
    assert "To=%2B12025550143" in first_two[1]["body"]
    refused = wait_final(share(api, study_id, phone="+1 202 555 0144"))
    assert refused.status == "failed" and "Twilio refused" in refused.error
    assert len(fake.requests) == 3
