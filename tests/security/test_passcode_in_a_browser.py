"""A patient whose clinic set a passcode gets in with Chromium (issue 16, point 3).

The patient page sends Referrer-Policy: no-referrer so the link's token never reaches another
site. On the passcode page that made Chromium post the form with "Origin: null", and Django's CSRF
check answered 403: the patient could not get in. Real Chromium, a live server, the real pipeline.
"""

from __future__ import annotations

import pytest
from django.core import mail

from sharing.models import Share
from tests.browser.conftest import browser, page  # noqa: F401  (fixtures)
from tests.sharing.conftest import link_from, run_pipeline, study  # noqa: F401  (fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_the_patient_enters_the_passcode_and_sees_the_images(live_server, page, api, study):  # noqa: F811
    response = api.post("/api/v1/shares/", {"study": study.pk, "email": "jane.patient@example.org",
                                            "passcode": "tulip-42"}, format="json")
    assert response.status_code == 202, response.content
    share = run_pipeline(Share.objects.get(pk=response.json()["id"]))
    assert share.status == "sent" and share.items.filter(kind="image").exists(), share.error
    path = "/p/" + link_from(mail.outbox[-1].body).split("/p/", 1)[1]

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
    assert thumbnails.count() == share.items.filter(kind="image").count()
    thumbnails.first.scroll_into_view_if_needed()
    page.wait_for_load_state("networkidle")
    loaded = page.evaluate("Array.from(document.querySelectorAll('li.item.image img')).map(i => i.complete && i.naturalWidth > 0)")
    assert loaded and all(loaded), f"every thumbnail loads once the passcode was entered: {loaded}"

