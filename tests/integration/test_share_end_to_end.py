"""The mission end to end on the real stack: PostgreSQL, Redis as the broker, a real Celery worker,
the file outboxes. Share by email and by SMS, follow the link, download everything, and find the
exam's identifiers nowhere: not in the HTML, the messages, the files, or the logs."""

from __future__ import annotations

import email
import io
import json
import logging
import re
import zipfile
from email import policy
from pathlib import Path

import av
import pytest
from django.conf import settings
from PIL import Image

from sharing.models import Share
from tests.conftest import upload_files, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.integration]

# The exam's identifiers, whole. Binary media is scanned for these exact bytes (short fragments
# such as "DOE" occur by chance in compressed data); text is also scanned word by word.
IDENTIFIERS = ["DOE^JANE", "PID-4711", "19870615", "20240312", "SONO^SAM", "North Clinic", "DOC^DANA"]
NAME_WORDS = re.compile(r"\b(DOE|JANE|SONO|DANA)\b", re.IGNORECASE)


def assert_clean(data: bytes | str, where: str, extra: tuple[str, ...] = ()) -> None:
    if isinstance(data, bytes):
        for identifier in (*IDENTIFIERS, *extra):
            assert identifier.encode() not in data, f"{identifier!r} found in {where}"
        return
    for identifier in (*IDENTIFIERS, *extra):
        assert identifier.upper() not in data.upper(), f"{identifier!r} found in {where}"
    found = NAME_WORDS.search(data)
    assert not found, f"{found.group(0)!r} found in {where}"


def wait_sent(share_id: int) -> Share:
    def done():
        share = Share.objects.get(pk=share_id)
        return share if share.status in ("sent", "failed") else None

    share = wait_until(done, timeout=180, what="the share to be delivered")
    assert share.status == "sent", share.error
    return share


def outbox_files(kind: str) -> list[Path]:
    folder = settings.EMAIL_OUTBOX_DIR if kind == "email" else settings.SMS_OUTBOX_DIR
    return sorted(p for p in Path(folder).glob("*") if p.suffix in (".eml", ".json"))


def path_of(link: str) -> str:
    return "/" + link.split("/", 3)[3]


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def test_share_by_email_and_sms_with_a_real_worker(worker, api, exam, client, logs):
    assert upload_files(api, exam).status_code == 201
    study_id = api.get("/api/v1/studies/").json()["results"][0]["id"]
    emails_before, sms_before = set(outbox_files("email")), set(outbox_files("sms"))

    by_email = api.post("/api/v1/shares/", {"study": study_id, "email": "recipient@example.org"}, format="json")
    by_sms = api.post("/api/v1/shares/", {"study": study_id, "phone": "+1 202 555 0143"}, format="json")
    assert by_email.status_code == by_sms.status_code == 202
    email_share, sms_share = wait_sent(by_email.json()["id"]), wait_sent(by_sms.json()["id"])

    # Exactly one message each, in the file outboxes of the embedded default.
    emails = [p for p in outbox_files("email") if p not in emails_before]
    texts = [p for p in outbox_files("sms") if p not in sms_before]
    assert len(emails) == 1 and len(texts) == 1
    raw_email = emails[0].read_bytes()
    message = email.message_from_bytes(raw_email, policy=policy.default)
    assert message["To"] == "recipient@example.org"
    assert_clean(raw_email, "the raw email")
    for part in message.walk():
        if part.get_content_maintype() == "text":
            assert_clean(part.get_content(), f"the email's {part.get_content_type()} part")
    assert_clean(message["Subject"], "the email subject")
    text_part = message.get_body(preferencelist=("plain",)).get_content()
    link = re.search(r"https?://\S+/p/[A-Za-z0-9_\-]+", text_part).group(0)
    token = link.rsplit("/", 1)[1]
    sms = json.loads(texts[0].read_text())
    assert sms["to"] == "+12025550143"
    assert_clean(sms["body"], "the SMS")
    sms_link = re.search(r"https?://\S+/p/[A-Za-z0-9_\-]+", sms["body"]).group(0)

    for share, url in ((email_share, link), (sms_share, sms_link)):
        page = client.get(path_of(url))
        assert page.status_code == 200
        html = page.content.decode()
        assert_clean(html, "the landing page")
        assert share.items.count() == len(exam)

    # Download every asset and the ZIP; check they are real media and carry nothing identifying.
    html = client.get(path_of(link)).content.decode()
    downloads = re.findall(r'href="([^"]+/download)"', html)
    kinds = set()
    for url in downloads:
        response = client.get(url)
        body = b"".join(response.streaming_content)
        assert_clean(body, f"download {response['Content-Disposition']}")
        assert token not in response["Content-Disposition"]
        if body[4:8] == b"ftyp":
            kinds.add("mp4")
            container = av.open(io.BytesIO(body))
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264"
            assert sum(1 for _ in container.decode(stream)) == 30, "the 30-frame clip keeps its frames"
            assert not any(container.metadata.get(k) for k in ("title", "comment"))
        else:
            kinds.add("jpg")
            image = Image.open(io.BytesIO(body))
            assert image.format == "JPEG" and not image.getexif()
    assert kinds == {"jpg", "mp4"}
    archive = zipfile.ZipFile(io.BytesIO(b"".join(client.get(f"{path_of(link)}/ultrasound.zip").streaming_content)))
    assert len(archive.namelist()) == len(exam)
    for name in archive.namelist():
        assert_clean(name, "a ZIP entry name")
        assert_clean(archive.read(name), f"ZIP entry {name}")

    # Every file the share published, and every log line anyone wrote.
    for path in Path(settings.MEDIA_ROOT, "shares").rglob("*"):
        if path.is_file():
            assert_clean(path.name, "a published file name")
            assert_clean(path.read_bytes(), f"published file {path.name}")
    worker_log = worker.log()
    assert "sharing.prepare_share" in worker_log, "the worker ran the pipeline"
    for where, text in (("the worker log", worker_log), ("the web log", logs.text)):
        assert_clean(text, where, extra=(token, "recipient@", "2025550143"))
