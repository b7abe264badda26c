"""A 2 GB upload is refused while it streams, at every HTTP door, against gunicorn.

The client feeds the body lazily from a generator (it never exists in memory) and stops as soon as
the server answers. gunicorn runs with MAX_UPLOAD_BYTES=16 MiB, so a body that "keeps going" to
2 GiB must be cut off near 16 MiB: the answer is a clear 413, the server's temp folder never holds
more than the limit, the worker's peak memory does not grow with the body, nothing stays behind,
and the next good request succeeds. Two ways in: an honest Content-Length of 2 GiB (refused before
a byte is read) and a chunked body without one (refused once the running total passes the limit).
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from pathlib import Path

import pytest
import requests
from rest_framework.authtoken.models import Token

from sharing.models import Instance
from tests.conftest import free_port
from tests.security.doors import Gunicorn

pytestmark = pytest.mark.django_db(transaction=True)

LIMIT = 16 * 1024 * 1024
TWO_GB = 2 * 1024**3
CHUNK = 1024 * 1024
BOUNDARY = "StReAmInGlImIt"


@pytest.fixture(scope="module")
def gunicorn(django_db_setup, tmp_path_factory):
    from django.conf import settings

    database = settings.DATABASES["default"]
    data_dir = tmp_path_factory.mktemp("gunicorn-data")
    env = {k: v for k, v in os.environ.items() if k not in ("EMAIL_URL", "SMS_BACKEND")}
    env.update(
        DATABASE_URL=f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        DJANGO_SETTINGS_MODULE="portal.settings", DATA_DIR=str(data_dir), MAX_UPLOAD_BYTES=str(LIMIT),
    )
    server = Gunicorn(env, free_port(), data_dir / "gunicorn.log")
    server.data_dir, server.temp = data_dir, data_dir / "tmp"
    yield server
    server.stop()


class TempFolderWatch:
    """Samples the total size of the server's temp folder every few milliseconds."""

    def __init__(self, folder: Path):
        self.folder, self.peak, self._stop = folder, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            total = 0
            for path in self.folder.glob("*"):
                try:
                    total += path.stat().st_size
                except FileNotFoundError:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(0.003)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def multipart_upload(total: int):
    """A multipart/form-data body of one `files` part, `total` bytes of zeros, made lazily."""
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"huge.dcm\"\r\n"
            "Content-Type: application/dicom\r\n\r\n").encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    return head, tail, f"multipart/form-data; boundary={BOUNDARY}"


def stow_upload(total: int):
    head = f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    return head, tail, f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'


def lazy_body(head: bytes, tail: bytes, total: int):
    yield head
    zeros = bytes(CHUNK)
    for _ in range(total // CHUNK):
        yield zeros
    yield tail


def stream_request(port: int, path: str, headers: dict, body, *, length: int | None):
    """Send a request whose body comes from a generator; stop sending as soon as the server answers.

    Returns (status, body bytes, bytes of body sent)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close", "Accept: application/json"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    sent = 0
    finished = True
    for piece in body:
        if select.select([sock], [], [], 0)[0]:
            finished = False
            break  # the server has answered: stop sending
        data = piece if length is not None else f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            finished = False
            break
        sent += len(piece)
    if finished and length is None:
        sock.sendall(b"0\r\n\r\n")
    response = b""
    try:
        while chunk := sock.recv(65536):
            response += chunk
    except ConnectionResetError:
        pass
    sock.close()
    head, _, payload = response.partition(b"\r\n\r\n")
    assert head, f"no response after {sent} bytes sent"
    return int(head.split()[1]), payload, sent


def staff_session(server: Gunicorn, staff) -> dict:
    session = requests.Session()
    session.get(server.url + "/login/", timeout=10)
    session.post(server.url + "/login/", timeout=10, data={
        "username": staff.username, "password": "pw-" + staff.username,
        "csrfmiddlewaretoken": session.cookies["csrftoken"]})
    assert "sessionid" in session.cookies, "staff could not log in to gunicorn"
    cookies = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
    return {"Cookie": cookies, "X-CSRFToken": session.cookies["csrftoken"]}


DOORS = {
    "api": ("/api/v1/studies/", multipart_upload),
    "staff upload": ("/upload/", multipart_upload),
    "stow-rs": ("/dicomweb/studies", stow_upload),
}


def auth_headers(door: str, server: Gunicorn, staff) -> dict:
    if door == "staff upload":
        return staff_session(server, staff)
    return {"Authorization": f"Token {Token.objects.get_or_create(user=staff)[0].key}"}


def good_request(door: str, server: Gunicorn, headers: dict, exam) -> int:
    path, build = DOORS[door]
    head, tail, content_type = build(0)
    body = head + exam[0].read_bytes() + tail
    status, payload, _ = stream_request(server.port, path, {**headers, "Content-Type": content_type}, iter([body]), length=len(body))
    assert status in (200, 201), payload[:500]
    return status


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("door", list(DOORS))
def test_two_gb_upload_is_refused_while_streaming(gunicorn, staff, exam, door, chunked):
    path, build = DOORS[door]
    headers = auth_headers(door, gunicorn, staff)
    good_request(door, gunicorn, headers, exam)  # warm the worker up, so its memory baseline is real
    instances_before = Instance.objects.count()
    peak_before = gunicorn.peak_rss()
    head, tail, content_type = build(TWO_GB)
    length = None if chunked else len(head) + TWO_GB + len(tail)
    started = time.monotonic()
    with TempFolderWatch(gunicorn.temp) as watch:
        status, payload, sent = stream_request(
            gunicorn.port, path, {**headers, "Content-Type": content_type}, lazy_body(head, tail, TWO_GB), length=length)
    elapsed = time.monotonic() - started
    assert status == 413, (status, payload[:500])
    assert b"larger than the 16 MiB limit" in payload, payload[:500]
    # Refused early: before reading at all with a Content-Length, near the limit when chunked
    # (plus what the sockets buffer on the way).
    assert sent < (8 if not chunked else 16 + 24) * CHUNK, f"the client got to send {sent} bytes before the answer"
    assert watch.peak <= LIMIT, f"the temp folder grew to {watch.peak} bytes, past the {LIMIT}-byte limit"
    growth = gunicorn.peak_rss() - peak_before
    assert growth < 32 * 1024 * 1024, f"the worker's peak memory grew by {growth} bytes: the body was buffered"
    assert elapsed < 30
    assert list(gunicorn.temp.glob("*")) == [], "the refused upload left temp files behind"
    assert Instance.objects.count() == instances_before, "the refused upload stored something"
    assert good_request(door, gunicorn, headers, exam) in (200, 201), "the server takes the next upload"


def test_chunked_upload_within_the_limit_goes_in(gunicorn, staff, exam):
    """The chunked path is a real door, not only a refusal: a small exam sent chunked is stored."""
    headers = auth_headers("api", gunicorn, staff)
    head, tail, content_type = multipart_upload(0)
    body = [head, exam[0].read_bytes(), tail]
    status, payload, _ = stream_request(gunicorn.port, "/api/v1/studies/", {**headers, "Content-Type": content_type},
                                        iter(body), length=None)
    assert status == 201, payload[:500]
    assert b'"accepted":1' in payload.replace(b" ", b"")
