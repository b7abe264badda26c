"""Odd email addresses (issue 16, point 9): IP-literal domains and control characters are refused
with a sentence staff can act on; a domain that is not ASCII is shown to staff in punycode, so a
look-alike letter cannot pass for the real one."""

from __future__ import annotations

import pytest

from sharing.models import Share

pytestmark = pytest.mark.django_db


def share_to(api, study, email: str):
    return api.post("/api/v1/shares/", {"study": study.pk, "email": email}, format="json")


@pytest.mark.parametrize("email", [
    "jane@[192.0.2.1]", "jane@[IPv6:2001:db8::1]", "jane@192.0.2.1",
    "ja\x07ne@example.org", "jane@exa\x00mple.org", "jane\r\nBcc: x@example.org", "jane@ex\u200bample.org",
    "jane@localhost", "\"jane doe\"@example.org", "jane@-example.org",
])
def test_odd_addresses_are_refused_with_a_reason(api, north, email):
    response = share_to(api, north.study, email)
    assert response.status_code == 400, f"{email!r} was accepted"
    message = response.json()["email"][0]
    assert message[0].isupper() and message.endswith("."), f"staff read a sentence: {message!r}"
    assert "Error" not in message and "Exception" not in message, "staff read a sentence, not an exception name"
    assert not Share.objects.exclude(pk__in=[north.share.pk]).exists(), "nothing is created for a refused contact"


def test_a_homoglyph_domain_is_shown_in_punycode(api, north):
    cyrillic_a = "\u0430"
    response = share_to(api, north.study, f"jane@ex{cyrillic_a}mple.org")
    assert response.status_code == 202, response.content
    shown = api.get(f"/api/v1/shares/{response.json()['id']}/").json()["contact"]
    assert shown == "j***@xn--exmple-4nf.org", "staff see that this is not example.org"


def test_an_ascii_domain_stays_masked(api, north):
    response = share_to(api, north.study, "Jane.Doe@Example.ORG")
    assert response.status_code == 202
    assert api.get(f"/api/v1/shares/{response.json()['id']}/").json()["contact"] == "J***@e***.org"


def test_the_staff_form_shows_the_reason(north, staff):
    from django.test import Client

    client = Client()
    client.force_login(staff)
    page = client.post(f"/studies/{north.study.pk}/share/", {"email": "jane@[192.0.2.1]"})
    assert page.status_code == 400
    assert "A bracketed IP address after the @-sign is not allowed here." in page.content.decode()
