"""Passcodes (issue 16, point 8): at least 6 characters, and wrong guesses lock out the guessing
address, not the patient elsewhere, with a ceiling per link for guesses from many addresses.

Requests go over HTTP to a live server; the client address comes from X-Real-IP as behind the
portal's reverse proxy (RATELIMIT_IP_META_KEY).
"""

from __future__ import annotations

import pytest
import requests

from sharing.models import PasscodeAttempts, Share
from sharing.shares import service
from tests.security.conftest import add_link

pytestmark = pytest.mark.django_db(transaction=True)

PASSCODE = "tulip-42"


@pytest.fixture
def link(live_server, north, settings) -> str:
    settings.RATELIMIT_IP_META_KEY = "HTTP_X_REAL_IP"
    settings.RATELIMIT_PASSCODE = "1000/m"  # the per-IP rate limit is not what these tests look at
    share = service.create_share(service.ShareRequest(study=north.study, email="p@example.org", passcode=PASSCODE))
    return f"{live_server.url}{add_link(share, 'L' * 43)}"


def enter(link: str, address: str, passcode: str) -> requests.Response:
    session = requests.Session()
    session.headers["X-Real-IP"] = address
    form = session.get(f"{link}/passcode")
    if "csrftoken" not in session.cookies:
        return form  # locked: the page shows no form
    return session.post(f"{link}/passcode", data={"passcode": passcode, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
                        allow_redirects=False)


def test_a_stranger_guessing_locks_out_only_their_own_address(link, settings):
    assert settings.PASSCODE_ADDRESS_ATTEMPTS == 5
    statuses = [enter(link, "203.0.113.9", f"guess-{n}").status_code for n in range(6)]
    assert statuses == [400, 400, 400, 400, 429, 429], "five wrong guesses lock that address"
    assert enter(link, "203.0.113.9", PASSCODE).status_code == 429, "not even the right passcode from there"
    patient = enter(link, "198.51.100.7", PASSCODE)
    assert patient.status_code == 302 and patient.headers["Location"].endswith("/p/" + "L" * 43), \
        "the patient on another address still gets in"


def test_addresses_in_one_ipv6_64_count_as_one(link):
    for host in range(1, 6):
        enter(link, f"2001:db8:1:2::{host}", "wrong-one")
    assert enter(link, "2001:db8:1:2::99", PASSCODE).status_code == 429, "a /64 is one client, as for the rate limits"
    assert enter(link, "2001:db8:1:3::1", PASSCODE).status_code == 302


def test_guesses_from_many_addresses_hit_the_ceiling_of_the_link(link, settings):
    assert settings.PASSCODE_LINK_ATTEMPTS == 30
    settings.PASSCODE_LINK_ATTEMPTS = 12
    for address in range(3):
        for guess in range(4):
            response = enter(link, f"192.0.2.{address}", f"guess-{guess}")
    assert response.status_code == 429, "the 12th wrong guess on the link locks the link"
    assert enter(link, "198.51.100.7", PASSCODE).status_code == 429, "then every address waits, the patient too"
    assert not PasscodeAttempts.objects.filter(client__contains="192.0.2").exists(), "addresses are stored hashed"


def test_the_right_passcode_clears_its_address_and_gives_back_its_charge(link):
    for _ in range(3):
        enter(link, "198.51.100.7", "typo-typo")
    assert enter(link, "198.51.100.7", PASSCODE).status_code == 302
    share = Share.objects.exclude(passcode_hash="").get()
    assert share.failed_passcode_attempts == 3, "the wrong guesses still count towards the link's ceiling"
    assert not PasscodeAttempts.objects.exists(), "the patient's address starts afresh"


@pytest.mark.django_db  # no live server: a plain transaction, rolled back
@pytest.mark.parametrize("passcode, accepted", [("12345", False), ("abc", False), ("123456", True), ("tulip-42", True)])
def test_passcodes_have_at_least_six_characters(api, north, passcode, accepted):
    response = api.post("/api/v1/shares/", {"study": north.study.pk, "email": "p@example.org", "passcode": passcode},
                        format="json")
    if accepted:
        assert response.status_code == 202, response.content
    else:
        assert response.status_code == 400 and "at least 6 characters" in response.json()["passcode"][0]


@pytest.mark.django_db
def test_the_clinic_passcode_has_at_least_six_characters(clinic):
    from sharing.admin import ClinicForm

    fields = {"name": clinic.name, "slug": clinic.slug, "mode": clinic.mode, "link_lifetime_days": 90,
              "sms_region": "US", "language": "en"}
    short = ClinicForm({**fields, "new_link_passcode": "4711"}, instance=clinic)
    assert not short.is_valid() and "at least 6 characters" in short.errors["new_link_passcode"][0]
    assert ClinicForm({**fields, "new_link_passcode": "471100"}, instance=clinic).is_valid()
