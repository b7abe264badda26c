"""Staff login: django-axes locks an account after 5 failures (per username and IP), and an IP
across usernames after 20 (password spraying), for a configurable cool-off, on /login/ and on the
admin's login alike; the admin is for Django staff only."""

from __future__ import annotations

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.test import Client

pytestmark = pytest.mark.django_db

LOCKED_TEXT = "Too many failed sign-in attempts"


def sign_in(client: Client, password: str, url: str = "/login/", username: str = "alice"):
    return client.post(url, {"username": username, "password": password})


def is_signed_in(client: Client) -> bool:
    return client.get("/studies/").status_code == 200


def test_five_failures_lock_the_account_even_for_the_right_password(staff, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    client = Client()
    for attempt in range(4):
        response = sign_in(client, "wrong")
        assert response.status_code == 200 and "didn" in response.content.decode(), f"failure {attempt + 1} re-shows the form"
    locked = sign_in(client, "wrong")
    assert locked.status_code == 429 and LOCKED_TEXT in locked.content.decode(), "the 5th failure locks"
    right = sign_in(client, "pw-alice")
    assert right.status_code == 429 and LOCKED_TEXT in right.content.decode(), "a locked account refuses the right password"
    assert not is_signed_in(client)


def test_the_lock_is_per_username_and_ip(staff, other_staff):
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(5):
        sign_in(attacker, "wrong")
    assert sign_in(attacker, "pw-alice").status_code == 429
    colleague = Client(REMOTE_ADDR="198.51.100.7")
    assert sign_in(colleague, "pw-alice").status_code == 302, "a stranger's failures do not lock alice out elsewhere"
    assert sign_in(attacker, "pw-bob", username="bob").status_code == 302, "other accounts from that IP still sign in"


def test_one_address_spraying_many_usernames_is_locked_at_the_higher_limit(staff, other_staff, settings):
    assert settings.AXES_IP_FAILURE_LIMIT == 20 and settings.AXES_FAILURE_LIMIT == 5
    sprayer = Client(REMOTE_ADDR="203.0.113.50")
    for index in range(19):
        response = sign_in(sprayer, "Winter2026!", username=f"user{index}")
        assert response.status_code == 200, f"one guess per username stays under both limits ({index + 1})"
    # A valid account signing in from the same address does not wipe the address's count.
    assert sign_in(sprayer, "pw-alice").status_code == 302
    sprayer.post("/logout/")
    locked = sign_in(sprayer, "Winter2026!", username="user19")
    assert locked.status_code == 429 and LOCKED_TEXT in locked.content.decode(), "the 20th failure locks the address"
    assert sign_in(sprayer, "pw-bob", username="bob").status_code == 429, "every username is locked from that address"
    elsewhere = Client(REMOTE_ADDR="198.51.100.7")
    assert sign_in(elsewhere, "pw-bob", username="bob").status_code == 302, "the same accounts still sign in from elsewhere"


def test_the_lock_lifts_after_the_cool_off(staff, settings):
    client = Client()
    for _ in range(5):
        sign_in(client, "wrong")
    assert sign_in(client, "pw-alice").status_code == 429
    # Age the recorded failures past the configured cool-off instead of sleeping through it.
    AccessAttempt.objects.update(attempt_time=dt.datetime.now(dt.timezone.utc) - settings.AXES_COOLOFF_TIME - dt.timedelta(seconds=5))
    assert sign_in(client, "pw-alice").status_code == 302
    assert is_signed_in(client)


def test_a_success_resets_the_count(staff):
    client = Client()
    for _ in range(4):
        sign_in(client, "wrong")
    assert sign_in(client, "pw-alice").status_code == 302
    client.post("/logout/")
    for _ in range(4):
        sign_in(client, "wrong")
    assert sign_in(client, "pw-alice").status_code == 302, "failures before a success do not add up"


def test_cool_off_and_limit_come_from_the_environment():
    import subprocess
    import sys

    code = ("import django;django.setup();from django.conf import settings as s;"
            "print(s.AXES_COOLOFF_TIME.total_seconds(), s.AXES_FAILURE_LIMIT, *[limit for _, limit in s.AXES_LOCKOUT_RULES])")
    import os

    env = {**os.environ, "AXES_COOLOFF_MINUTES": "42", "AXES_FAILURE_LIMIT": "7", "AXES_IP_FAILURE_LIMIT": "50",
           "DJANGO_SETTINGS_MODULE": "portal.settings"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out[-4:] == ["2520.0", "7", "7", "50"]


def test_admin_login_is_the_staff_login_and_counts_towards_the_lock(staff):
    client = Client()
    page = client.get("/admin/login/?next=/admin/")
    assert page.status_code == 200 and "registration/login.html" in [t.name for t in page.templates]
    for _ in range(5):
        client.post("/admin/login/", {"username": "alice", "password": "wrong", "next": "/admin/"})
    assert sign_in(client, "pw-alice").status_code == 429, "failures on the admin login lock the account"


def test_the_admin_is_for_django_staff_only(staff):
    member = Client()
    member.force_login(staff)  # a clinic member, not is_staff
    home = member.get("/admin/")
    assert home.status_code == 302 and home["Location"].startswith("/admin/login/")
    assert member.get("/admin/sharing/clinic/").status_code == 302
    assert member.get("/admin/auth/user/").status_code == 302
    # The login page then shows the form (no redirect loop back to /admin/).
    assert member.get(home["Location"]).status_code == 200

    admin_user = get_user_model().objects.create_user("root", password="pw-root-long-enough", is_staff=True, is_superuser=True)
    operator = Client()
    assert operator.post("/admin/login/", {"username": "root", "password": "pw-root-long-enough", "next": "/admin/"}).status_code == 302
    assert operator.get("/admin/").status_code == 200, "Django staff reach the admin through the same login"
    assert admin_user.is_staff


def test_the_api_refuses_anonymous_callers(db):
    assert Client().get("/api/v1/studies/").status_code in (401, 403)
