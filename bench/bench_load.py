"""Load test of the production shape: gunicorn + PostgreSQL + Redis on loopback, measured with wrk.

    .venv/bin/python bench/bench_load.py [--seconds 15] [--connections 16] [--keep]

It builds everything it needs and removes it afterwards:

1. a database of its own (`portal_loadtest`, dropped and created; PostgreSQL at 127.0.0.1:5432,
   or BENCH_PG_URL) and a private `redis-server` on a free loopback port;
2. `migrate`, a clinic, a staff user with an API token, pydicom's bundled ultrasound files
   ingested, a share prepared and delivered in-process (the pipeline as a worker runs it) to get a
   live patient link from the `.eml` outbox;
3. gunicorn with deploy/gunicorn.conf.py (2 × cores processes, 1 thread each, as in production);
4. wrk, one target after the other, each for a fixed time: the landing page, a thumbnail JPG,
   the MP4 clip and `POST /api/v1/shares/` with token authentication;
5. prints req/s, p50, p99 and errors per target beside the target figures, stops gunicorn and
   Redis, and drops the database (unless --keep).

The rate limits of the link and the API are raised through the environment (RATELIMIT_LINK,
RATELIMIT_API) so this measures the page, not the limiter; the limiter still runs (one Redis
round trip per request), as in production.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DATABASE = "portal_loadtest"
US_FILES = ["examples_ybr_color.dcm", "examples_palette.dcm", "examples_rgb_color.dcm", "examples_jpeg2k.dcm"]
# Landing page target of issue 6 on a 2-core machine.
TARGET_RPS, TARGET_P99_MS = 300, 100


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def psql(admin_url: str, sql: str) -> None:
    subprocess.run(["psql", admin_url, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True, capture_output=True)


def start(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_for(url: str, process: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer:\n{log.read_text()[-3000:]}")


def one_exam(name: str, _uids: dict = {}) -> bytes:
    """A bundled file moved into one shared study and series, so a single share holds them all."""
    import io

    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid

    _uids.setdefault("study", generate_uid())
    _uids.setdefault("series", generate_uid())
    ds = pydicom.dcmread(get_testdata_file(name))
    ds.StudyInstanceUID, ds.SeriesInstanceUID = _uids["study"], _uids["series"]
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def build_data(env: dict) -> dict:
    """Clinic, staff token, an exam and a delivered share; returns the URLs and token to load."""
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.files.uploadedfile import SimpleUploadedFile
    from rest_framework.authtoken.models import Token

    from sharing.ingest.service import ingest_uploads
    from sharing.models import Clinic, Membership, Share, ShareItem
    from sharing.shares import lifecycle
    from django.contrib.auth import get_user_model

    clinic = Clinic.objects.create(name="Load Test Clinic", slug="loadtest")
    user = get_user_model().objects.create_user(username="loadtest", password="loadtest-pw-1")
    Membership.objects.create(user=user, clinic=clinic)
    token = Token.objects.create(user=user).key
    uploads = [SimpleUploadedFile(f"{index}.dcm", one_exam(name)) for index, name in enumerate(US_FILES)]
    report = ingest_uploads(clinic, uploads, source="upload")
    study = report.studies[0]

    from sharing.shares.service import ShareRequest, create_share

    share = create_share(ShareRequest(study=study, email="patient@example.org"), user=user)
    lifecycle.run_here(share.pk, share.generation)
    if Share.objects.get(pk=share.pk).status != Share.Status.SENT:
        raise SystemExit("the share was not delivered: " + Share.objects.get(pk=share.pk).error)
    outbox = Path(env["DATA_DIR"]) / "outbox" / "email"
    link = re.search(r"/p/[A-Za-z0-9_\-]+", next(outbox.glob("*.eml")).read_text()).group(0)
    image = share.items.filter(kind=ShareItem.Kind.IMAGE).first()
    clip = share.items.filter(kind=ShareItem.Kind.CLIP).first()
    return {
        "landing": link,
        "thumbnail": f"{link}/a/{image.pk}/thumb",
        "clip": f"{link}/a/{clip.pk}/media",
        "clip_bytes": clip.size,
        "token": token,
        "study": study.pk,
    }


@dataclass
class Result:
    name: str
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def to_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def run_wrk(name: str, url: str, *, seconds: int, connections: int, script: Path | None = None) -> Result:
    command = ["wrk", "--threads", "1", "--connections", str(connections), "--duration", f"{seconds}s",
               "--timeout", "5s", "--latency"]
    if script:
        command += ["--script", str(script)]
    # Warm up first, unrecorded: every gunicorn process imports lazily and opens its database and
    # Redis connections on its first requests, which is start-up cost, not the steady state.
    warm = [*command[:6], "2s", *command[7:]]
    subprocess.run([*warm, url], check=True, capture_output=True, timeout=40)
    out = subprocess.run([*command, url], check=True, capture_output=True, text=True, timeout=seconds + 30).stdout
    # wrk pads seconds ("1.34s ") but not milliseconds: allow trailing blanks.
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.M))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = (int(non_2xx.group(1)) if non_2xx else 0) + (sum(map(int, socket_errors.groups())) if socket_errors else 0)
    return Result(
        name=name, requests=int(re.search(r"(\d+) requests in", out).group(1)),
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        p50_ms=to_ms(latency["50"]), p99_ms=to_ms(latency["99"]), errors=errors,
    )


def share_api_script(directory: Path, token: str, study: int) -> Path:
    path = directory / "post_share.lua"
    path.write_text(
        'wrk.method = "POST"\n'
        f'wrk.headers["Authorization"] = "Token {token}"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.body = \'{{"study": {study}, "email": "patient@example.org"}}\'\n'
        # wrk counts 202 as success; anything else (400, 429, 5xx) lands in "Non-2xx".
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=15, help="duration of each target's run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1), help="gunicorn processes")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn process")
    parser.add_argument("--keep", action="store_true", help="keep the database and the data folder")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install -y wrk")

    pg = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
    admin_url = f"{pg}/postgres"
    work = Path(tempfile.mkdtemp(prefix="portal-loadtest-"))
    redis_port, web_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("EMAIL_URL", "SMS_BACKEND", "AWS_STORAGE_BUCKET_NAME")},
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": f"{pg}/{DATABASE}",
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "DATA_DIR": str(work / "data"),
        "PORT": str(web_port),
        "PUBLIC_URL": f"http://127.0.0.1:{web_port}",
        # Measure the page, not the limiter: generous limits (the limiter still counts in Redis).
        "RATELIMIT_LINK": "10000000/m",
        "RATELIMIT_API": "10000000/m",
        "WEB_CONCURRENCY": str(args.workers),
        "WEB_THREADS": str(args.threads),
        "WEB_ACCESS_LOG": str(work / "access.log"),
        "PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    }
    redis = web = None
    try:
        psql(admin_url, f"DROP DATABASE IF EXISTS {DATABASE}")
        psql(admin_url, f"CREATE DATABASE {DATABASE}")
        redis = start(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                      env, work / "redis.log")
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        data = build_data(env)
        web = start([str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "portal.wsgi:application"], env, work / "web.log")
        base = env["PUBLIC_URL"]
        wait_for(base + "/healthz", web, work / "web.log")
        # Warm every process (imports, template loading, connections) before measuring.
        for _ in range(args.workers * 8):
            for path in ("landing", "thumbnail"):
                urllib.request.urlopen(base + data[path], timeout=10).read()

        load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else ["?"]
        print(f"load average before the run: {' '.join(load)} (other processes on the machine share its cores)")
        print(f"gunicorn: {args.workers} processes × {args.threads} threads (gthread), PostgreSQL, Redis, "
              f"{os.cpu_count()} cores; wrk: 1 thread, {args.connections} connections, {args.seconds} s per target")
        results = [
            run_wrk("landing page  GET /p/<token>", base + data["landing"], seconds=args.seconds, connections=args.connections),
            run_wrk("thumbnail     GET …/thumb (JPG)", base + data["thumbnail"], seconds=args.seconds, connections=args.connections),
            run_wrk(f"clip          GET …/media (MP4, {data['clip_bytes'] // 1024} KiB)", base + data["clip"],
                    seconds=args.seconds, connections=args.connections),
            run_wrk("share API     POST /api/v1/shares/", base + "/api/v1/shares/", seconds=args.seconds,
                    connections=args.connections, script=share_api_script(work, data["token"], data["study"])),
        ]
        print(f"\n{'target':44} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
        for r in results:
            print(f"{r.name:44} {r.requests:9d} {r.rps:8.0f} {r.p50_ms:8.1f} {r.p99_ms:8.1f} {r.errors:7d}")
        landing = results[0]
        verdict = "met" if landing.rps >= TARGET_RPS and landing.p99_ms < TARGET_P99_MS and landing.errors == 0 else "MISSED"
        print(f"\nlanding page target (>= {TARGET_RPS} req/s, p99 < {TARGET_P99_MS} ms, 0 errors): {verdict} "
              f"({landing.rps / TARGET_RPS:.2f}× the req/s target, p99 at {landing.p99_ms / TARGET_P99_MS:.2f}× the limit)")
    finally:
        stop(web)
        stop(redis)
        if not args.keep:
            try:
                from django.db import connections

                connections.close_all()
            except Exception:
                pass
            psql(admin_url, f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept: database {DATABASE}, folder {work}")


if __name__ == "__main__":
    main()
