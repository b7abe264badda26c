"""The production shape of docs/deploy.md, run from deploy/Procfile's own command lines: gunicorn,
a Celery worker that consumes only the render queue, one that consumes only delivery (and the
default queue), beat, and the DICOM listener, on PostgreSQL and a Redis of their own."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import requests
from rest_framework.authtoken.models import Token

from tests.conftest import ROOT, free_port, wait_until
from tests.ops.conftest import BIN, process_env, readyz, wait_for_http

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def procfile() -> dict[str, str]:
    lines = (ROOT / "deploy" / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line and not line.startswith("#"))


def start(services, name: str, env: dict):
    """Start one Procfile process exactly as written (the shell expands its ${VARIABLES})."""
    return services.start(name, ["bash", "-c", "exec " + procfile()[name]], env)


@pytest.fixture
def private_redis(services):
    """A Redis of this test's own, so no other worker of the suite takes these tasks."""
    port = free_port()
    server = services.start("redis", ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no"], {"PATH": os.environ["PATH"]})
    server.wait_for_log("Ready to accept connections", timeout=20)
    return f"redis://127.0.0.1:{port}/0"


@pytest.fixture
def shape_env(tmp_path, private_redis):
    port = free_port()
    return process_env(
        REDIS_URL=private_redis, DATA_DIR=str(tmp_path / "data"), PORT=str(port), PUBLIC_URL=f"http://127.0.0.1:{port}",
        WEB_CONCURRENCY="2", RENDER_CONCURRENCY="2", WORKER_HEARTBEAT_SECONDS="1", DICOM_PORT=str(free_port()),
        PATH=f"{BIN}:{os.environ['PATH']}",
    )


def test_procfile_processes_deliver_a_share_through_separate_queues(services, shape_env, staff, exam):
    base = shape_env["PUBLIC_URL"]
    web = start(services, "web", shape_env)
    render = start(services, "render", shape_env)
    deliver = start(services, "deliver", shape_env)
    start(services, "beat", shape_env)
    wait_for_http(base + "/healthz", web)
    render.wait_for_log(" ready.")
    deliver.wait_for_log(" ready.")

    auth = {"Authorization": f"Token {Token.objects.create(user=staff).key}"}
    files = [("files", (p.name, p.read_bytes(), "application/dicom")) for p in exam]
    uploaded = requests.post(base + "/api/v1/studies/", files=files, headers=auth, timeout=60)
    assert uploaded.status_code == 201, uploaded.text
    created = requests.post(base + "/api/v1/shares/", json={"study": uploaded.json()["studies"][0]["id"],
                            "email": "jane.patient@example.org"}, headers=auth, timeout=30)
    assert created.status_code == 202, created.text

    def sent():
        status = requests.get(f"{base}/api/v1/shares/{created.json()['id']}/", headers=auth, timeout=10).json()
        assert status["status"] != "failed", status
        return status["status"] == "sent"

    wait_until(sent, timeout=90, what="the share to be delivered by the production shape")
    ran = {name: set(re.findall(r"Task (sharing\.\w+)\[", worker.log())) for name, worker in [("render", render), ("deliver", deliver)]}
    assert "sharing.prepare_share" in ran["render"] and "sharing.deliver_share" not in ran["render"], (
        "the render worker consumes only the render queue"
    )
    assert "sharing.deliver_share" in ran["deliver"] and "sharing.prepare_share" not in ran["deliver"], (
        "the delivery worker consumes only delivery (and the default queue)"
    )

    outbox = Path(shape_env["DATA_DIR"]) / "outbox" / "email"
    messages = list(outbox.glob("*.eml"))
    assert len(messages) == 1, "exactly one message goes out"
    link = re.search(r"http://127\.0\.0\.1:\d+/p/[A-Za-z0-9_\-]+", messages[0].read_text()).group(0)
    assert requests.get(link, timeout=10).status_code == 200, "the patient's page is served by gunicorn"
    token = link.rsplit("/", 1)[1]
    wait_until(lambda: '"GET /p/' in web.log(), timeout=10, what="the access log line of the landing page")
    assert token not in web.log(), "the access log never holds a link token"

    # Beat schedules the heartbeat, the delivery worker runs it, /readyz sees it.
    wait_until(lambda: readyz(base)[1]["worker"]["status"] == "ok", timeout=30, what="a fresh worker heartbeat")
    status, body = readyz(base)
    assert status == 200 and body["status"] == "ok", body


def test_web_without_its_database_is_alive_but_not_ready(services, shape_env):
    env = {**shape_env, "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/ops_no_such_database"}
    web = start(services, "web", env)
    base = env["PUBLIC_URL"]
    wait_for_http(base + "/healthz", web)
    assert requests.get(base + "/healthz", timeout=10).json() == {"status": "ok"}, "liveness needs no database"
    status, body = readyz(base)
    assert status == 503 and body["status"] == "unavailable"
    assert body["checks"]["database"] == {"ok": False, "error": "OperationalError", "ms": body["checks"]["database"]["ms"]}
    assert "ops_no_such_database" not in str(body), "a failing check does not name the database"


def test_dicom_listener_runs_as_its_own_process(services, shape_env):
    from pynetdicom import AE

    listener = start(services, "dicom", shape_env)
    port = int(shape_env["DICOM_PORT"])

    def echoed():
        assert listener.process.poll() is None, listener.log()[-2000:]
        ae = AE(ae_title="OPSTEST")
        ae.add_requested_context("1.2.840.10008.1.1")
        association = ae.associate("127.0.0.1", port, ae_title="PORTAL")
        if not association.is_established:
            return False
        status = association.send_c_echo()
        association.release()
        return status and status.Status == 0x0000

    wait_until(echoed, timeout=30, interval=0.5, what="the listener to answer C-ECHO")
