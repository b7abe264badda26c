"""Peak memory per ingest door for a 500 MB object, printed beside the object's size (issue 16.2).

Each door's receiving process is real and on its own: gunicorn with one worker for STOW-RS, the staff
upload and the REST API, `manage.py dicom_listener` for C-STORE (dcmtk's storescu sends). The figure
is the process's high-water mark of resident memory (VmHWM) after the object is stored; the reference
is the object itself, which is what the process would hold if memory followed the file.

Target: under 300 MB at every door.

    .venv/bin/python bench/bench_ingest_memory.py [--mb 500]

It uses SQLite and a DATA_DIR of its own (removed afterwards), and a standard clinic (stored as
received; a strict clinic's anonymizer decodes the pixels and is measured by bench_anonymizer.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.security.doors import (  # noqa: E402
    Gunicorn, object_of_size, peak_rss, send_api, send_cstore, send_stow, send_upload, staff_session,
)

MB = 1000 * 1000
TARGET = 300 * 1024 * 1024
SETUP = """
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from sharing.models import Clinic, Membership
clinic = Clinic.objects.create(name="Bench", slug="bench", accept_unknown_devices=True)
user = get_user_model().objects.create_user("bench", password="bench-password-1")
Membership.objects.create(user=user, clinic=clinic)
print(Token.objects.create(user=user).key)
"""
FORGET = """
from sharing.models import Instance, Study
for instance in Instance.objects.all():
    instance.file.delete(save=False)
Study.objects.all().delete()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_listener(port: int) -> None:
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification

    for _ in range(120):
        ae = AE(ae_title="BENCH")
        ae.add_requested_context(Verification)
        assoc = ae.associate("127.0.0.1", port, ae_title="PORTAL")
        if assoc.is_established:
            assoc.release()
            return
        time.sleep(0.5)
    raise SystemExit("the DICOM listener did not start")


def manage(env: dict, *args: str) -> str:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True).stdout


def stored(result) -> bool:
    if result.returncode != 0:
        print(result.stdout + result.stderr, file=sys.stderr)
    return result.returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=500, help="object size in MB (default 500)")
    size = parser.parse_args().mb * MB
    data_dir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "EMAIL_URL")}
    env.update(DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="portal.settings",
               MAX_FILE_BYTES=str(size + 100 * MB), MAX_UPLOAD_BYTES=str(2 * size))
    web = listener = None
    try:
        manage(env, "migrate", "--noinput")
        token = manage(env, "shell", "-c", SETUP).strip().splitlines()[-1]
        source = object_of_size(data_dir / "object.dcm", size - size % 2)
        web = Gunicorn(env, free_port(), data_dir / "gunicorn.log")
        dicom_port = free_port()
        listener = subprocess.Popen([sys.executable, "manage.py", "dicom_listener", "--port", str(dicom_port)],
                                    cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        doors = {
            "C-STORE (storescu)": lambda: stored(send_cstore(dicom_port, source)),
            "STOW-RS": lambda: send_stow(web.url, token, source).status_code == 200,
            "staff upload": lambda: send_upload(staff_session(web.url, "bench", "bench-password-1"), web.url,
                                                source).status_code == 201,
            "REST API": lambda: send_api(web.url, token, source).status_code == 201,
        }
        wait_for_listener(dicom_port)
        print(f"{'door':<22} {'object':>10}  {'peak RSS':>10} {'peak / object':>14}  target < 300 MiB")
        for name, send in doors.items():
            manage(env, "shell", "-c", FORGET)
            started = time.monotonic()
            ok = send()
            seconds = time.monotonic() - started
            pid = listener.pid if name.startswith("C-STORE") else web.worker_pid()
            peak = peak_rss(pid)
            verdict = "met" if ok and peak < TARGET else ("FAILED to store" if not ok else "MISSED")
            print(f"{name:<22} {size / MB:>6.0f} MB  {peak / 2**20:>6.0f} MiB {peak / size:>13.2f}x  {verdict} ({seconds:.1f} s)")
    finally:
        if web is not None:
            web.stop()
        if listener is not None:
            listener.terminate()
            listener.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
