"""Plain-text messages read as written (issue 16, point 10): the email subject, its text part and
the SMS are not HTML, so "O'Brien & Sons" must not arrive as "O&#x27;Brien &amp; Sons". The HTML
part stays escaped. A real worker delivers to the .eml and SMS outboxes."""

from __future__ import annotations

import email
import json
from email import policy
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import exam_with_patient, upload_files, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

NAME = "O'Brien & Sons <Ultrasound>"
MESSAGE = "Parking behind Smith & Co's, \"Gate 2\""


def test_subject_text_and_sms_read_as_written_and_html_stays_escaped(worker, api, clinic, tmp_path):
    clinic.name, clinic.message = NAME, MESSAGE
    clinic.save()
    response = upload_files(api, exam_with_patient(tmp_path, count=1))
    study = response.json()["studies"][0]["id"]
    before_mail = set(Path(settings.EMAIL_OUTBOX_DIR).glob("*.eml"))
    before_sms = set(Path(settings.SMS_OUTBOX_DIR).glob("*.json"))
    assert api.post("/api/v1/shares/", {"study": study, "email": "jane@example.org"}, format="json").status_code == 202
    assert api.post("/api/v1/shares/", {"study": study, "phone": "+1 202 555 0143"}, format="json").status_code == 202

    mails = wait_until(lambda: [p for p in Path(settings.EMAIL_OUTBOX_DIR).glob("*.eml") if p not in before_mail],
                       what="the email")
    texts = wait_until(lambda: [p for p in Path(settings.SMS_OUTBOX_DIR).glob("*.json") if p not in before_sms],
                       what="the SMS")
    message = email.message_from_bytes(mails[0].read_bytes(), policy=policy.default)
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    sms = json.loads(texts[0].read_text())["body"]

    assert NAME in message["Subject"], f"the subject reads as written: {message['Subject']!r}"
    assert NAME in text and MESSAGE in text, "the text part reads as written"
    assert NAME in sms, f"the SMS reads as written: {sms!r}"
    for plain in (message["Subject"], text, sms):
        assert "&amp;" not in plain and "&#x27;" not in plain and "&lt;" not in plain, "no HTML entities in plain text"
    assert "O&#x27;Brien &amp; Sons &lt;Ultrasound&gt;" in html, "the HTML part still escapes the clinic's name"
    assert "<Ultrasound>" not in html
