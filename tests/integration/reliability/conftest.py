"""Real processes for the reliability tests: a worker we may kill, Redis we may stop, an SMTP
server and a Twilio stand-in on loopback that fail on cue."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pydicom
import pytest
import redis

from tests.conftest import WorkerProcess, free_port, worker_env

REDIS_START = [
    "redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379", "--save", "",
    "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log",
]


@pytest.fixture
def own_worker(worker_process, tmp_path):
    """Start workers with our own settings; the session's shared worker is paused meanwhile, so
    every task goes to the worker this test controls."""
    worker_process.stop()
    started: list[WorkerProcess] = []

    def start(*, beat: bool = False, **env) -> WorkerProcess:
        args = ("--beat", "--schedule", str(tmp_path / "beat-schedule")) if beat else ()
        worker = WorkerProcess(worker_env(**env), tmp_path / f"worker-{len(started)}.log", extra_args=args)
        worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def redis_up() -> bool:
    try:
        return redis.Redis(host="127.0.0.1", port=6379, socket_timeout=1).ping()
    except redis.ConnectionError:
        return False


@pytest.fixture
def redis_server():
    """Stop and start the machine's real Redis; it is always running again after the test."""

    class Control:
        def stop(self):
            subprocess.run(["redis-cli", "-p", "6379", "shutdown", "nosave"], capture_output=True, timeout=10)
            deadline = time.monotonic() + 10
            while redis_up() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not redis_up(), "redis did not stop"

        def start(self):
            if not redis_up():
                subprocess.run(REDIS_START, check=True, capture_output=True, timeout=10)
            deadline = time.monotonic() + 10
            while not redis_up() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert redis_up(), "redis did not start"

    control = Control()
    yield control
    control.start()


class ScriptedSmtp:
    """A real SMTP server (aiosmtpd) that answers each DATA with the next scripted reply."""

    def __init__(self, replies: list[str]):
        from aiosmtpd.controller import Controller

        self.replies, self.received = list(replies), []
        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                reply = outer.replies.pop(0) if outer.replies else "250 OK"
                if reply.startswith("250"):
                    outer.received.append(envelope.content)
                return reply

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        self.controller.stop()


def started(factory):
    """A fixture body: start servers with `factory(script)`, stop every one of them afterwards."""
    servers = []

    def start(script):
        servers.append(factory(script))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def smtp_server():
    yield from started(ScriptedSmtp)


class FakeTwilio:
    """Twilio's Messages endpoint on loopback, answering with scripted status codes."""

    def __init__(self, statuses: list[int]):
        self.statuses, self.requests = list(statuses), []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                outer.requests.append({"path": self.path, "body": self.rfile.read(length).decode(),
                                       "key": self.headers.get("I-Twilio-Idempotency-Token")})
                status = outer.statuses.pop(0) if outer.statuses else 201
                body = {"sid": "SM123"} if status < 300 else {"code": 21211, "message": "invalid 'To'"}
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


@pytest.fixture
def twilio():
    yield from started(FakeTwilio)


def long_clip(path, frames: int = 600):
    """A 640x480 JPEG Baseline cine long enough that killing the worker lands mid-work. Its printed
    layer is static, as in a real loop, so strict verification can check it on a sample of frames."""
    from tests.anonymizer.anonymizer_fixtures import jpeg_clip

    ds = jpeg_clip(frames, static_overlay=True)
    ds.PatientName, ds.PatientID = "DOE^JANE", "PID-4711"
    ds.StudyInstanceUID = pydicom.uid.generate_uid()
    ds.SeriesInstanceUID = pydicom.uid.generate_uid()
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)
    return path
