"""Health endpoints: liveness needs nothing but the process, readiness probes each dependency,
and neither body says anything an outsider could use."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from portal import health
from tests.conftest import free_port


@pytest.fixture
def client():
    return Client()


def body(response) -> dict:
    assert response["Content-Type"] == "application/json"
    return json.loads(response.content)


@pytest.fixture
def heartbeat(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()

    def write(age_seconds: float) -> None:
        (settings.DATA_DIR / health.HEARTBEAT_FILE).write_text((timezone.now() - dt.timedelta(seconds=age_seconds)).isoformat())

    return write


def test_liveness_answers_without_touching_the_database(client):
    # No django_db mark: pytest-django makes any database access here raise.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert body(response) == {"status": "ok"}
    assert "no-store" in response["Cache-Control"], "a cache must never answer a health probe"
    assert not response.cookies, "a probe gets no session or CSRF cookie"


@pytest.mark.django_db
def test_readiness_is_ok_when_database_storage_broker_and_worker_are(client, heartbeat):
    heartbeat(age_seconds=3)
    response = client.get("/readyz")
    data = body(response)
    assert response.status_code == 200, data
    assert data["status"] == "ok"
    assert {name: check["ok"] for name, check in data["checks"].items()} == {"database": True, "storage": True, "broker": True}
    assert data["worker"]["status"] == "ok" and 2 <= data["worker"]["heartbeat_age_seconds"] < 30


@pytest.mark.django_db
def test_readiness_fails_when_storage_is_not_writable(client, settings, tmp_path, heartbeat):
    heartbeat(age_seconds=1)
    blocker = tmp_path / "not-a-folder"
    blocker.write_bytes(b"")
    settings.MEDIA_ROOT = str(blocker / "media")  # below a file: nothing can be created there
    response = client.get("/readyz")
    data = body(response)
    assert response.status_code == 503, "a process that cannot store uploads is taken out of rotation"
    assert data["status"] == "unavailable" and data["checks"]["storage"]["ok"] is False
    assert data["checks"]["database"]["ok"] is True


@pytest.mark.django_db
def test_storage_probe_leaves_nothing_behind(client, settings, heartbeat):
    heartbeat(age_seconds=1)
    assert client.get("/readyz").status_code == 200
    leftovers = [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]
    assert leftovers == [], "the storage probe removes what it wrote"


@pytest.mark.django_db
def test_an_unreachable_broker_degrades_but_keeps_the_web_in_rotation(client, settings, heartbeat):
    heartbeat(age_seconds=1)
    settings.REDIS_URL = f"redis://:s3cret-pass@127.0.0.1:{free_port()}/0"
    response = client.get("/readyz")
    data = body(response)
    # Shares are still accepted while the broker is down (the sweep sends them later).
    assert response.status_code == 200
    assert data["status"] == "degraded" and data["checks"]["broker"] == {
        "ok": False, "error": "ConnectionError", "ms": data["checks"]["broker"]["ms"]}
    assert "s3cret" not in response.content.decode() and "127.0.0.1" not in response.content.decode(), (
        "a failing check names no host and no credential"
    )


@pytest.mark.django_db
def test_filesystem_broker_folder_must_be_writable(client, settings, tmp_path, heartbeat):
    heartbeat(age_seconds=1)
    settings.REDIS_URL = ""
    queue = tmp_path / "broker-queue"
    queue.mkdir()
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(queue)}
    assert body(client.get("/readyz"))["checks"]["broker"]["ok"] is True
    assert list(queue.iterdir()) == [], "the probe leaves no file a worker could take for a message"

    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path / "missing")}
    data = body(client.get("/readyz"))
    assert data["checks"]["broker"]["ok"] is False and data["status"] == "degraded"


@pytest.mark.django_db
@pytest.mark.parametrize("age, status", [(None, "unknown"), (10, "ok"), (3600, "stale")])
def test_worker_heartbeat_age_is_reported(client, settings, heartbeat, age, status):
    settings.WORKER_HEARTBEAT_STALE_SECONDS = 120
    if age is not None:
        heartbeat(age_seconds=age)
    response = client.get("/readyz")
    data = body(response)
    assert response.status_code == 200, "a missing worker does not take the web out of rotation"
    assert data["worker"]["status"] == status
    assert data["status"] == ("ok" if status == "ok" else "degraded")
    if age is None:
        assert data["worker"]["heartbeat_age_seconds"] is None
    else:
        assert abs(data["worker"]["heartbeat_age_seconds"] - age) < 5


def test_health_endpoints_refuse_writes(client):
    assert client.post("/healthz").status_code == 405
    assert client.post("/readyz").status_code == 405


@pytest.mark.django_db
def test_readiness_body_holds_only_check_names_and_timings(client, heartbeat):
    heartbeat(age_seconds=1)
    data = body(client.get("/readyz"))
    assert set(data) == {"status", "checks", "worker"}
    for check in data["checks"].values():
        assert set(check) <= {"ok", "ms", "error"}
    assert set(data["worker"]) == {"status", "heartbeat_age_seconds", "stale_after_seconds"}
