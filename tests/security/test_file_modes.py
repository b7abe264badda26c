"""Files holding identifiers are private (issue 16, point 11): the embedded portal, started the way
`make run` does from a shell whose umask is the usual 022, runs every process (run_portal, web,
worker, DICOM listener, manage.py) with umask 077; the database, stored DICOM, previews, scratch
folders and outboxes it writes are 0600 in 0700 folders; and `manage.py check` warns about a
file that is wider."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pydicom
import requests
from pydicom.data import get_testdata_file
from pynetdicom import AE
from pynetdicom.sop_class import UltrasoundMultiFrameImageStorage

from tests.conftest import ROOT, free_port, wait_until
from tests.integration.test_make_run import processes_with_env


def portal_env(data_dir: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "EMAIL_URL", "SMS_BACKEND")}
    return {**env, "DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "portal.settings", **extra}


def usual_umask() -> None:
    os.umask(0o022)


def manage(env: dict, *args: str) -> str:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=True, timeout=120, preexec_fn=usual_umask).stdout


def process_umask(pid: int) -> str | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return next((line.split()[1] for line in status.splitlines() if line.startswith("Umask:")), None)


def too_open(root: Path) -> list[str]:
    """Everything under root that group or others may read, write or enter."""
    wider = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077 and not path.is_symlink():
            wider.append(f"{path.relative_to(root)} {mode:04o}")
    return wider


PREPARE = """
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.authtoken.models import Token
call_command("migrate", "--noinput", verbosity=0)
call_command("ensure_demo")
print(Token.objects.get_or_create(user=get_user_model().objects.get(username="demo"))[0].key)
"""


def test_every_process_writes_identifiers_privately(tmp_path):
    data = tmp_path / "data"
    port, dicom_port = free_port(), free_port()
    # One web and one pool process: this test looks at modes, not throughput.
    env = portal_env(data, PORT=str(port), DICOM_PORT=str(dicom_port), WEB_CONCURRENCY="1", CELERY_CONCURRENCY="1")
    # What `make run` prepares, in one manage.py process (each one costs seconds of imports).
    token = manage(env, "shell", "-c", PREPARE).split()[-1]
    log = open(tmp_path / "portal.log", "wb")
    portal = subprocess.Popen([sys.executable, "manage.py", "run_portal"], cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=usual_umask)
    base = f"http://127.0.0.1:{port}"
    try:
        def web_up():
            try:
                return requests.get(f"{base}/login/", timeout=5).status_code == 200
            except requests.RequestException:
                return False

        wait_until(web_up, timeout=90, what="the web server")
        auth = {"Authorization": f"Token {token}"}
        # The listener stores a C-STORE, the web an upload; the worker renders and mails.
        wait_until(lambda: store_one_by_dicom(dicom_port), timeout=60, what="the listener to store an object")
        # A single still keeps the worker's render short.
        with open(get_testdata_file("examples_palette.dcm"), "rb") as upload:
            response = requests.post(f"{base}/api/v1/studies/", files={"files": upload}, headers=auth, timeout=60)
        assert response.status_code == 201, response.text[:300]
        study = response.json()["studies"][0]["id"]
        share = requests.post(f"{base}/api/v1/shares/", json={"study": study, "email": "p@example.org"}, headers=auth, timeout=30)
        assert share.status_code == 202, share.text[:300]
        outbox = data / "outbox" / "email"
        wait_until(lambda: list(outbox.glob("*.eml")), timeout=120, what="the worker to deliver the share")

        pids = processes_with_env(f"DATA_DIR={data}")
        assert len(pids) >= 5, "run_portal, gunicorn and its worker, the Celery worker and its pool, the listener"
        umasks = {pid: process_umask(pid) for pid in pids}
        assert set(umasks.values()) == {"0077"}, f"every process of the portal runs with umask 077: {umasks}"
    finally:
        os.killpg(portal.pid, signal.SIGINT)
        try:
            portal.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(portal.pid, signal.SIGKILL)

    assert "portal.W001" not in (tmp_path / "portal.log").read_text(), "a fresh DATA_DIR passes the start-up checks"
    stored = [p for p in (data / "media").rglob("*") if p.is_file()]
    assert len(stored) >= 3, "the upload, the C-STORE and the previews were stored"
    assert (data / "portal.sqlite3").exists() and list(outbox.glob("*.eml"))
    assert too_open(data) == [], "nothing under DATA_DIR is open to the group or other users"


def store_one_by_dicom(port: int) -> bool:
    """C-STORE one object; False while the listener is not up yet."""
    ds = pydicom.dcmread(get_testdata_file("examples_ybr_color.dcm"))
    ae = AE(ae_title="MODALITY1")
    ae.add_requested_context(UltrasoundMultiFrameImageStorage, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", port, ae_title="PORTAL")
    if not assoc.is_established:
        return False
    try:
        status = assoc.send_c_store(ds).Status
    finally:
        assoc.release()
    assert status == 0x0000, f"the listener stores the object (status {status:#06x})"
    return True


def test_start_up_checks_warn_about_wider_modes_and_a_group_may_read(tmp_path):
    data = tmp_path / "data"
    # As an older version, or a copy made by hand, left them.
    data.mkdir()
    (data / "portal.sqlite3").touch()
    (data / "portal.sqlite3").chmod(0o644)
    (data / "media").mkdir()
    (data / "media").chmod(0o755)
    # UMASK=027: the operator lets the portal's group (a backup user, say) read.
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=portal_env(data, UMASK="027"),
                            capture_output=True, text=True, timeout=120, preexec_fn=usual_umask)
    output = result.stdout + result.stderr
    assert "portal.W001" in output and "portal.sqlite3 is readable by more users" in output, output[-2000:]
    assert f"{data / 'media'} is readable by more users" in output, "0755 is wider than the group's 0750"
    for folder in (data / "tmp", data / "broker" / "queue"):
        assert f"{stat.S_IMODE(folder.stat().st_mode):04o}" == "0750", f"{folder} is created for the group to read"


def test_a_umask_that_opens_files_to_others_is_refused(tmp_path):
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, capture_output=True, text=True,
                            env=portal_env(tmp_path / "data", UMASK="022"), timeout=120)
    assert result.returncode != 0 and "UMASK=022 would let other users read files holding identifiers" in result.stderr
