"""Shared fixtures: clinics and staff, API clients, sample exams from pydicom's bundled files."""

from __future__ import annotations

import io
import shutil
import socket
from pathlib import Path

import pydicom
import pytest
from django.contrib.auth import get_user_model
from pydicom.data import get_testdata_file
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

US_FILES = ["examples_ybr_color.dcm", "examples_palette.dcm", "examples_rgb_color.dcm", "examples_jpeg2k.dcm"]


@pytest.fixture(autouse=True)
def isolated_media(request, settings, tmp_path):
    """Each test stores files under its own folder, so 'nothing left behind' can be checked.

    Tests with a real worker process keep DATA_DIR's media folder, which the worker shares."""
    if request.node.get_closest_marker("worker"):
        return tmp_path
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "upload-tmp")
    Path(settings.FILE_UPLOAD_TEMP_DIR).mkdir()
    return tmp_path


def stored_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def temp_files(settings) -> list[Path]:
    return [p for p in Path(settings.FILE_UPLOAD_TEMP_DIR).rglob("*") if p.is_file()]


def make_clinic(slug: str, **fields):
    from sharing.models import Clinic

    return Clinic.objects.create(name=slug.title(), slug=slug, **fields)


def make_staff(username: str, *clinics):
    from sharing.models import Membership

    user = get_user_model().objects.create_user(username=username, password="pw-" + username)
    for clinic in clinics:
        Membership.objects.create(user=user, clinic=clinic)
    return user


@pytest.fixture
def clinic(db):
    return make_clinic("north")


@pytest.fixture
def other_clinic(db):
    return make_clinic("south")


@pytest.fixture
def strict_clinic(db):
    from sharing.models import Clinic

    return make_clinic("strict", mode=Clinic.Mode.STRICT)


@pytest.fixture
def staff(clinic):
    return make_staff("alice", clinic)


@pytest.fixture
def other_staff(other_clinic):
    return make_staff("bob", other_clinic)


@pytest.fixture
def api(staff):
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=staff)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def other_api(other_staff):
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=other_staff)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def us_paths() -> list[Path]:
    return [Path(get_testdata_file(name)) for name in US_FILES]


def exam_with_patient(tmp_path: Path, *, name="DOE^JANE", patient_id="PID-4711", study_uid=None, count=2) -> list[Path]:
    """An exam of `count` US instances with a known patient, built from pydicom's bundled US files."""
    from pydicom.uid import generate_uid

    study_uid = study_uid or generate_uid()
    series_uid = generate_uid()
    out = []
    sources = [get_testdata_file(n) for n in US_FILES]
    for index in range(count):
        ds = pydicom.dcmread(sources[index % len(sources)])
        ds.PatientName = name
        ds.PatientID = patient_id
        ds.PatientBirthDate = "19870615"
        ds.PatientSex = "F"
        ds.StudyDate = "20240312"
        ds.StudyDescription = "OB 2nd trimester"
        ds.OperatorsName = "SONO^SAM"
        ds.PerformingPhysicianName = "DOC^DANA"
        ds.InstitutionName = "North Clinic"
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = index + 1
        path = tmp_path / f"exam-{study_uid[-6:]}-{index}.dcm"
        ds.save_as(path, enforce_file_format=True)
        out.append(path)
    return out


@pytest.fixture
def exam(tmp_path) -> list[Path]:
    return exam_with_patient(tmp_path / "exam" if (tmp_path / "exam").mkdir() is None else tmp_path)


def upload_files(api_client, paths, url="/api/v1/studies/", extra=None):
    files = [open(p, "rb") for p in paths]
    try:
        return api_client.post(url, {"files": files, **(extra or {})}, format="multipart")
    finally:
        for f in files:
            f.close()


def named_bytes(name: str, data: bytes):
    buffer = io.BytesIO(data)
    buffer.name = name
    return buffer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def chromium_path() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(path).exists(), "Debian's chromium is required for browser tests (make test installs it)"
    return path


class WorkerProcess:
    """A real `celery worker` process on the test PostgreSQL database and Redis."""

    def __init__(self, env: dict, log_path: Path, extra_args: tuple[str, ...] = ()):
        self.env, self.log_path, self.process, self.extra_args = env, log_path, None, extra_args

    def start(self, timeout: float = 60) -> None:
        import subprocess
        import sys
        import time

        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "portal", "worker", "--loglevel", "INFO", "--concurrency", "2",
             "--queues", "celery,render,deliver", "--without-gossip", "--without-mingle", "--hostname", "test@%h",
             *self.extra_args],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b" ready." in self.log_path.read_bytes()[offset:]:
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError("the Celery worker did not start:\n" + self.log_path.read_text()[-3000:])

    def kill(self) -> None:
        """SIGKILL the whole worker (parent and pool children), as an OOM kill or power loss would."""
        import os
        import signal

        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        import os
        import signal
        import subprocess

        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def worker_process(django_db_setup, django_db_blocker, tmp_path_factory):
    """One worker for the session, bound to the test database pytest-django created."""
    import os

    import redis
    from django.conf import settings as django_settings

    redis_url = os.environ.get("REDIS_URL")
    database = django_settings.DATABASES["default"]
    assert redis_url and database["ENGINE"].endswith("postgresql"), (
        "worker tests need PostgreSQL and Redis: run them with `make test`"
    )
    redis.Redis.from_url(redis_url).flushdb()
    worker = WorkerProcess(worker_env(), tmp_path_factory.mktemp("worker") / "worker.log")
    worker.start()
    yield worker
    worker.stop()


def worker_env(**overrides) -> dict:
    """The environment of a worker process bound to the test database and Redis."""
    import os

    from django.conf import settings as django_settings

    database = django_settings.DATABASES["default"]
    env = {k: v for k, v in os.environ.items() if k not in ("EMAIL_URL", "SMS_BACKEND")}
    env["DATABASE_URL"] = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    env["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    env.update(overrides)
    return env


@pytest.fixture
def worker(worker_process):
    if worker_process.process.poll() is not None:
        worker_process.start()
    return worker_process


def wait_until(predicate, *, timeout: float = 120, interval: float = 0.3, what: str = "condition"):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(autouse=True)
def fresh_rate_limits(settings):
    """Each test counts requests from zero: rate-limit keys get a prefix of their own, so tests
    (and test runs sharing one Redis) never push each other over RATELIMIT_* limits."""
    import uuid

    settings.RATELIMIT_CACHE_PREFIX = f"rl:test-{uuid.uuid4().hex}:"


# Chromium for browser tests anywhere in the suite (tests/browser, tests/security): one session-wide
# Playwright, because a second sync_playwright() in this thread refuses to start while one runs.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture(scope="session")
def browser():
    import os

    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls in test bodies stay synchronous.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                  device_scale_factor=3, accept_downloads=True)
    page = context.new_page()
    yield page
    context.close()
