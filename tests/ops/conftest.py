"""Process helpers for the production-shape tests: gunicorn, Celery workers and beat, moto's S3
server, each a real process in its own session, always stopped (the whole group) at teardown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port, worker_env

BIN = Path(sys.executable).parent


# A portal process bound to the test database and Redis: the same environment the worker tests use.
process_env = worker_env


class Service:
    """One long-running process with its output in a log file."""

    def __init__(self, name: str, command: list[str], env: dict, log_dir: Path):
        self.name, self.command, self.env = name, command, env
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> "Service":
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            self.command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        return self

    def wait_for_log(self, marker: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if marker in self.log():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"{self.name} did not log {marker!r}:\n{self.log()[-3000:]}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def services(tmp_path):
    """Start services through `services.start(name, command, env)`; all are stopped at teardown."""

    class Services(list):
        def start(self, name: str, command: list[str], env: dict) -> Service:
            service = Service(name, command, env, tmp_path).start()
            self.append(service)
            return service

    started = Services()
    yield started
    for service in reversed(started):
        service.stop()


def http_get(url: str, *, timeout: float = 10) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def wait_for_http(url: str, service: Service, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            http_get(url, timeout=2)
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if service.process.poll() is not None:
                break
            time.sleep(0.2)
    raise AssertionError(f"{service.name} did not answer {url}:\n{service.log()[-3000:]}")


def readyz(base_url: str) -> tuple[int, dict]:
    status, _, body = http_get(base_url + "/readyz")
    return status, json.loads(body)


def gunicorn_command(port: int, *, workers: int = 2) -> list[str]:
    """The web command line of docs/deploy.md, on a loopback port."""
    return [
        str(BIN / "gunicorn"), "portal.wsgi:application", "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers), "--threads", "4", "--timeout", "120", "--graceful-timeout", "10",
        "--access-logfile", "-", "--access-logformat", '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms',
    ]


def celery_worker_command(name: str, queues: str, *, concurrency: int = 1) -> list[str]:
    """A worker command line of docs/deploy.md: one consumer per queue family."""
    return [
        sys.executable, "-m", "celery", "-A", "portal", "worker", "--loglevel", "INFO",
        "--queues", queues, "--concurrency", str(concurrency), "--hostname", f"{name}@%h",
        "--without-gossip", "--without-mingle", "--max-tasks-per-child", "50",
    ]


def celery_beat_command(schedule: Path) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "portal", "beat", "--loglevel", "INFO", "--schedule", str(schedule)]


__all__ = ["free_port", "Service", "process_env", "http_get", "wait_for_http", "readyz",
           "gunicorn_command", "celery_worker_command", "celery_beat_command"]
