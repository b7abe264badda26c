"""Logs carry no PHI, contact or link token: every record of an end-to-end share, at DEBUG and
from every logger, as the configured handlers write it; and gunicorn's access log."""

from __future__ import annotations

import io
import logging
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.core import mail
from django.db import connection

from portal.logging import RedactingFilter, redact
from sharing.management.commands.run_portal import GUNICORN_LOG_ARGS
from sharing.models import Share, Study
from tests.conftest import free_port, upload_files
from tests.sharing.conftest import IDENTIFIERS, link_from, run_pipeline

ROOT = Path(__file__).resolve().parents[2]
EMAIL = "jane.doe@example.org"
PHONE = "+14155550123"


@pytest.fixture
def configured_log():
    """What the configured handlers write, with every logger open down to DEBUG (LOG_LEVEL=DEBUG)."""
    handlers = [h for h in logging.root.handlers if h.get_name() == "console"]
    assert handlers, "settings.LOGGING's console handler is installed on the root logger"
    buffer = io.StringIO()
    previous = [(h, h.setStream(buffer)) for h in handlers]
    root_level = logging.root.level
    logging.root.setLevel(logging.DEBUG)
    disabled = {name: lg.disabled for name, lg in logging.root.manager.loggerDict.items() if isinstance(lg, logging.Logger)}
    for name in disabled:
        logging.getLogger(name).disabled = False
    yield buffer
    logging.root.setLevel(root_level)
    for handler, stream in previous:
        handler.setStream(stream)
    for name, was in disabled.items():
        logging.getLogger(name).disabled = was


def test_every_handler_redacts():
    from django.conf import settings

    for name, handler in settings.LOGGING["handlers"].items():
        assert "redact" in handler.get("filters", []), f"handler {name} does not redact"
    for handler in logging.root.handlers:
        if handler.get_name() == "console":
            assert any(isinstance(f, RedactingFilter) for f in handler.filters)


@pytest.mark.django_db
def test_an_end_to_end_share_logs_no_identifier_contact_or_token(configured_log, api, exam, client, staff_client, settings):
    settings.SMS_BACKEND = "locmem"
    connection.force_debug_cursor = True  # SQL with parameters (patient names) is offered to the log
    try:
        study = Study.objects.get(pk=upload_files(api, exam).json()["studies"][0]["id"])
        response = staff_client.post(f"/studies/{study.pk}/share/", {"email": EMAIL})
        assert response.status_code == 302
        share = run_pipeline(Share.objects.get(study=study))
        assert share.status == "sent", share.error
        link = link_from(mail.outbox[-1].body)
        token = link.rsplit("/", 1)[1]
        path = "/p/" + token
        assert client.get(path).status_code == 200
        item = share.items.first()
        for variant in ("thumb", "media", "download"):
            assert client.get(f"{path}/a/{item.pk}/{variant}").status_code == 200
        assert b"".join(client.get(f"{path}/ultrasound.zip").streaming_content)
        assert client.get(f"{path}/a/999999/media").status_code == 404  # django.request logs the path
        assert client.get(f"{path}/nothing-here").status_code == 404
        api.post("/api/v1/shares/", {"study": study.pk, "phone": PHONE}, format="json")
        logging.getLogger("sharing.test").warning("opened %s for %s", link, EMAIL)  # a careless line, redacted
    finally:
        connection.force_debug_cursor = False

    text = configured_log.getvalue()
    assert "Not Found: /p/[redacted]" in text, "the 404s above were logged (with the link redacted)"
    assert "sharing.ingest" in text and "sharing.shares" in text, "the share's own log lines were captured"
    secrets = [token, EMAIL, PHONE, study.study_instance_uid, *IDENTIFIERS]
    secrets += list(study.instances.values_list("sop_instance_uid", flat=True))
    for secret in secrets:
        assert secret.upper() not in text.upper(), f"{secret!r} reached the log:\n" + "\n".join(
            line for line in text.splitlines() if secret.upper() in line.upper())


def test_redaction_covers_links_credentials_and_contacts():
    line = ('GET /p/AbC_d-9x/a/3/media?x=1 from https://portal.example.org/p/AbC_d-9x token=abc passcode=4711 '
            'Authorization: Token 0123456789abcdef0123456789abcdef01234567 to jane@example.org or +14155550123')
    redacted = redact(line)
    for secret in ("AbC_d-9x", "passcode=4711", "token=abc", "0123456789abcdef", "jane@example.org", "+14155550123"):
        assert secret not in redacted, secret
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "Not Found: %s", ("/p/SECRET",), None)
    try:
        raise ValueError("bad /p/SECRET2")
    except ValueError:
        record.exc_info = sys.exc_info()
    RedactingFilter().filter(record)
    formatted = logging.Formatter().format(record)
    assert "SECRET" not in formatted and "/p/[redacted]" in formatted


@pytest.mark.django_db(transaction=True)
def test_gunicorn_access_and_error_logs_carry_no_link_token(tmp_path):
    """The web command `make run` uses, on a real gunicorn: its access log redacts the token."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings", "DATA_DIR": str(tmp_path)}
    if database["ENGINE"].endswith("postgresql"):
        env["DATABASE_URL"] = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    port = free_port()
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "portal.wsgi:application", "--bind", f"127.0.0.1:{port}",
             "--workers", "1", *GUNICORN_LOG_ARGS],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    token = "SeCrEtToKeN" + "x" * 32
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/p/{token}", timeout=5)
            except urllib.error.HTTPError as exc:
                assert exc.code == 404
                break
            except OSError:
                assert time.monotonic() < deadline and process.poll() is None, log_path.read_text()
                time.sleep(0.2)
        for url in (f"/p/{token}/a/1/thumb", f"/p/{token}/ultrasound.zip?passcode=1234"):
            try:
                urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}{url}", headers={"Referer": f"http://x/p/{token}"}), timeout=5)
            except urllib.error.HTTPError:
                pass
        time.sleep(0.5)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    text = log_path.read_text()
    assert re.search(r'"GET /p/\[redacted\]" 404', text), text
    assert token.lower() not in text.lower() and "1234" not in text, text
