"""Staff share from the study list; the patient opens the link from the outbox on a phone, the
clip plays inline, and a download works. Chromium, a real worker, Redis and PostgreSQL."""

from __future__ import annotations

import email
import re
from email import policy
from pathlib import Path

import pytest
from django.conf import settings

from sharing.models import Share
from tests.conftest import upload_files, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.worker]


def sign_in(page, base):
    page.goto(f"{base}/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw-alice")
    page.click("button[type=submit]")
    page.wait_for_selector("#study-list")


def test_staff_shares_and_the_patient_plays_the_clip_on_a_phone(live_server, worker, page, phone, staff, api, exam):
    assert upload_files(api, exam).status_code == 201
    before = set(Path(settings.EMAIL_OUTBOX_DIR).glob("*.eml"))

    sign_in(page, live_server.url)
    page.click("tr[data-study-id] >> text=Share")
    page.wait_for_selector("#share-form")
    page.fill("input[name=email]", "patient@example.org")
    page.click("#share-submit")
    page.wait_for_selector("tr.share-row")
    # The study page polls progress and reloads when the share is sent.
    page.wait_for_selector("tr.share-row.status-sent", timeout=120_000)
    assert "p***@e***.org" in page.inner_text("tr.share-row")
    share = Share.objects.get()
    assert share.status == "sent"

    new = wait_until(lambda: [p for p in Path(settings.EMAIL_OUTBOX_DIR).glob("*.eml") if p not in before], what="the email")
    message = email.message_from_bytes(new[0].read_bytes(), policy=policy.default)
    link = re.search(r"/p/[A-Za-z0-9_\-]+", message.get_body(preferencelist=("plain",)).get_content()).group(0)

    phone.goto(f"{live_server.url}{link}")
    video = phone.locator("video").first
    video.scroll_into_view_if_needed()
    video.click()  # a tap: the human action that counts as "opened"
    phone.evaluate("document.querySelector('video').play()")
    # Polled from here: wait_for_function evaluates a string inside the page, which our CSP
    # (script-src 'self', no eval) rightly refuses.
    wait_until(lambda: phone.evaluate("document.querySelector('video').readyState >= 2"), timeout=30, what="clip data")
    start = phone.evaluate("document.querySelector('video').currentTime")
    wait_until(lambda: phone.evaluate(f"document.querySelector('video').currentTime > {start} + 0.2"), timeout=30,
               what="the clip to play")
    assert phone.evaluate("document.querySelector('video').error") is None

    with phone.expect_download() as download_info:
        phone.click("a.button:has-text('Download JPG')")
    download = download_info.value
    assert re.fullmatch(r"ultrasound-image-\d+\.jpg", download.suggested_filename)
    assert Path(download.path()).read_bytes()[:3] == b"\xff\xd8\xff"

    share.refresh_from_db()
    assert share.opened_at is not None and share.downloaded_at is not None
