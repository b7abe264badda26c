"""`make run` on a fresh DATA_DIR: web, a real worker on the embedded broker, the DICOM listener,
all stopped cleanly by Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from tests.conftest import exam_with_patient, free_port

ROOT = Path(__file__).resolve().parents[2]


def wait_for(predicate, timeout=60, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:
            pass
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def share_by_whatsapp(session, base: str, exam: list[Path]) -> int:
    """Upload an exam and share it by WhatsApp through the REST API, as an integration would."""
    headers = {"X-CSRFToken": session.cookies["csrftoken"], "Referer": base + "/"}
    with open(exam[0], "rb") as fh:
        uploaded = session.post(f"{base}/api/v1/studies/", files={"files": fh}, headers=headers)
    assert uploaded.status_code == 201, uploaded.text
    study = uploaded.json()["studies"][0]["id"]
    shared = session.post(f"{base}/api/v1/shares/", json={"study": study, "phone": "+1 202 555 0143", "channel": "whatsapp"},
                          headers=headers)
    assert shared.status_code == 202, shared.text
    return shared.json()["id"]


def test_make_run_serves_the_demo_delivers_a_whatsapp_share_and_stops_on_ctrl_c(tmp_path):
    port, dicom_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "EMAIL_URL", "SMS_BACKEND",
                                                          "WHATSAPP_BACKEND")}
    env.update(DATA_DIR=str(tmp_path / "data"), PORT=str(port), DICOM_PORT=str(dicom_port))
    log = open(tmp_path / "run.log", "wb")
    process = subprocess.Popen(["make", "--no-print-directory", "run"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: requests.get(f"{base}/login/", timeout=2).status_code == 200, 120, "the web server")
        session = requests.Session()
        session.get(f"{base}/login/")
        response = session.post(f"{base}/login/", data={"username": "demo", "password": "demo",
                                                        "csrfmiddlewaretoken": session.cookies["csrftoken"]})
        assert response.url.endswith("/studies/"), "demo/demo signs in"
        assert "Drop exams here" in response.text
        static = session.get(f"{base}/static/portal/portal.css")
        assert static.status_code == 200, "static files are served by the web server"

        def echo():
            ae = AE(ae_title="SMOKE")
            ae.add_requested_context(Verification)
            assoc = ae.associate("127.0.0.1", dicom_port, ae_title="PORTAL")
            try:
                return assoc.is_established and assoc.send_c_echo().Status == 0
            finally:
                assoc.release()

        wait_for(echo, 60, "the DICOM listener")

        # A real worker consumes the embedded broker: enqueue a task and see its effect.
        subprocess.run(
            [sys.executable, "-c", "import django; django.setup(); from sharing.tasks import heartbeat; heartbeat.delay()"],
            cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "portal.settings"}, check=True, timeout=60,
        )
        wait_for(lambda: (tmp_path / "data" / "worker-heartbeat").exists(), 60, "the worker to run a task")

        share_id = share_by_whatsapp(session, base, exam_with_patient(tmp_path, count=1))
        outbox = tmp_path / "data" / "outbox" / "whatsapp"
        wait_for(lambda: any(outbox.glob("*.json")), 120, "the WhatsApp message in its outbox")
        [message] = outbox.glob("*.json")
        assert f"{base}/p/" in message.read_text(), "the outbox file holds the patient's link"
        wait_for(lambda: session.get(f"{base}/api/v1/shares/{share_id}/").json()["status"] == "sent", 30, "sent")
        output = (tmp_path / "run.log").read_text()
        assert f"http://127.0.0.1:{port}/" in output and "demo / demo" in output, "make run prints the URL and credentials"
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail("make run did not stop on Ctrl-C")
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/login/", timeout=2)
    assert processes_with_env(f"DATA_DIR={tmp_path / 'data'}") == [], "web, worker or listener outlived Ctrl-C"


def processes_with_env(marker: str) -> list[int]:
    """PIDs whose environment holds `marker`: the portal's children carry DATA_DIR."""
    found = []
    needle = marker.encode() + b"\0"
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if needle in (proc / "environ").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return found
