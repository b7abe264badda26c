"""A patient whose clinic set a passcode gets in with Chromium (issue 16, point 3).

The patient page sends Referrer-Policy: no-referrer so the link's token never reaches another
site. On the passcode page that made Chromium post the form with "Origin: null", and Django's CSRF
check answered 403: the patient could not get in. Real Chromium, a live server, a real worker
that renders and mails the share.
"""

from __future__ import annotations

import email
import re
from email import policy
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import exam_with_patient, upload_files, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.worker]


def test_the_patient_enters_the_passcode_and_sees_the_images(live_server, worker, page, api, tmp_path):  # noqa: F811
    uploaded = upload_files(api, exam_with_patient(tmp_path, count=2))
    assert uploaded.status_code == 201, uploaded.content
    study = uploaded.json()["studies"][0]["id"]
    before = set(Path(settings.EMAIL_OUTBOX_DIR).glob("*.eml"))
    response = api.post("/api/v1/shares/", {"study": study, "email": "jane.patient@example.org", "passcode": "tulip-42"},
                        format="json")
    assert response.status_code == 202, response.content
    sent = wait_until(lambda: [p for p in Path(settings.EMAIL_OUTBOX_DIR).glob("*.eml") if p not in before],
                      what="the worker to mail the link")
    message = email.message_from_bytes(sent[0].read_bytes(), policy=policy.default)
    path = re.search(r"/p/[A-Za-z0-9_\-]+", message.get_body(preferencelist=("plain",)).get_content()).group(0)

    asked = page.goto(live_server.url + path)
    assert page.url.endswith("/passcode"), "a protected link asks for the passcode first"
    assert asked.headers["referrer-policy"] == "same-origin", "the token goes out as Referer to this site only"
    page.fill("input[name=passcode]", "tulip-42")
    with page.expect_navigation() as navigation:
        page.click("button[type=submit]")
    assert navigation.value.status == 200 and "CSRF" not in page.content(), \
        f"the passcode form posts (no CSRF 403): {navigation.value.status} {page.content()[:500]}"
    assert page.url == live_server.url + path, "the right passcode opens the patient's page"
    assert navigation.value.headers["referrer-policy"] == "no-referrer", "the patient's page still sends no Referer"

    thumbnails = page.locator("li.item.image img")
    assert thumbnails.count() >= 1, "the patient's images are on the page"
    thumbnails.first.scroll_into_view_if_needed()
    page.wait_for_load_state("networkidle")
    loaded = page.evaluate("Array.from(document.querySelectorAll('li.item.image img')).map(i => i.complete && i.naturalWidth > 0)")
    assert loaded and all(loaded), f"every thumbnail loads once the passcode was entered: {loaded}"
