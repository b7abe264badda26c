"""Headers and page hygiene: a strict CSP with no inline script or style, no framing, nosniff,
same-origin resources only (the patient page and the API docs make no third-party requests), and
secure, HttpOnly, SameSite cookies with HSTS in production."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django.core import mail
from django.test import Client

from sharing.shares import service
from tests.security.conftest import add_link
from tests.sharing.conftest import link_from, run_pipeline

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
URL_ATTRIBUTES = {"src", "href", "poster", "action", "srcset", "data", "formaction", "background"}


class PageAudit(HTMLParser):
    """Collect what a strict CSP would block or what would reach another origin."""

    def __init__(self):
        super().__init__()
        self.problems: list[str] = []
        self.urls: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"inline event handler {name} on <{tag}>")
            if name == "style":
                self.problems.append(f"inline style attribute on <{tag}>")
            if name in URL_ATTRIBUTES and value:
                self.urls.append(value)
        if tag == "style":
            self.problems.append("inline <style> element")
        if tag == "script":
            kind = (attributes.get("type") or "text/javascript").lower()
            if not attributes.get("src") and kind not in ("application/json", "application/ld+json"):
                self.problems.append("inline <script>")
        if tag == "a" and (attributes.get("href") or "").lower().startswith("javascript:"):
            self.problems.append("javascript: URL")


def audit(response) -> PageAudit:
    page = PageAudit()
    page.feed(response.content.decode())
    return page


def is_same_origin(url: str) -> bool:
    return not re.match(r"^(?:[a-z][a-z0-9+.-]*:)?//", url, re.I) and not url.lower().startswith(("http:", "https:"))


@pytest.fixture
def pages(north, staff_client, settings):
    """Every kind of page the portal serves, with the client that may see it."""
    share = run_pipeline(service.create_share(service.ShareRequest(study=north.study, email="p@example.org")))
    assert share.status == "sent", share.error
    link = "/" + link_from(mail.outbox[-1].body).split("/", 3)[3]
    protected = service.create_share(service.ShareRequest(study=north.study, email="p@example.org", passcode="471100"))
    protected_link = add_link(protected, "P" * 43)
    revoked = service.create_share(service.ShareRequest(study=north.study, email="p@example.org"))
    revoked_link = add_link(revoked, "R" * 43)
    service.revoke_share(revoked)
    admin = Client()
    admin.force_login(get_user_model().objects.create_user("root", is_staff=True, is_superuser=True))
    anonymous = Client()
    return {
        "login": (anonymous, "/login/", 200),
        "admin login": (anonymous, "/admin/login/", 200),
        "patient landing": (anonymous, link, 200),
        "patient passcode": (anonymous, f"{protected_link}/passcode", 200),
        "patient link gone": (anonymous, revoked_link, 410),
        "patient link not found": (anonymous, "/p/" + "N" * 43, 404),
        "study list": (staff_client, "/studies/", 200),
        "study detail": (staff_client, f"/studies/{north.study.pk}/", 200),
        "API docs": (staff_client, "/api/v1/docs/", 200),
        "admin index": (admin, "/admin/", 200),
        "admin change list": (admin, "/admin/sharing/study/", 200),
    }


def test_every_page_sends_a_strict_csp_no_framing_and_nosniff(pages):
    for name, (client, url, status) in pages.items():
        response = client.get(url)
        assert response.status_code == status, f"{name}: {response.status_code}"
        policy = response.get("Content-Security-Policy", "")
        directives = {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}
        assert directives.get("script-src") == ["'self'"], f"{name}: script-src is not 'self' only: {policy}"
        assert directives.get("style-src") == ["'self'"], f"{name}: style-src is not 'self' only: {policy}"
        assert directives.get("default-src") == ["'self'"] and directives.get("frame-ancestors") == ["'none'"]
        assert directives.get("object-src") == ["'none'"] and directives.get("base-uri") == ["'none'"]
        assert "unsafe" not in policy, f"{name}: the policy allows unsafe sources"
        assert response["X-Frame-Options"] == "DENY", name
        assert response["X-Content-Type-Options"] == "nosniff", name


def test_no_page_has_inline_script_or_style_or_third_party_resources(pages):
    for name, (client, url, status) in pages.items():
        page = audit(client.get(url))
        assert page.problems == [], f"{name}: {page.problems}"
        foreign = [u for u in page.urls if not is_same_origin(u)]
        assert foreign == [], f"{name} loads from another origin: {foreign}"


def test_the_patient_page_loads_only_its_own_assets(pages):
    client, url, _ = pages["patient landing"]
    page = audit(client.get(url))
    assets = [u for u in page.urls if "/a/" in u]
    assert any(u.endswith("/thumb") for u in assets) or any(u.endswith("/poster") for u in assets), page.urls
    for asset in assets:
        assert asset.startswith(url), f"asset {asset} is not served under the patient's own link"
    for static in (u for u in page.urls if u.startswith("/static/")):
        path = finders.find(static.removeprefix("/static/"))
        assert path, f"{static} is not one of our static files"
        text = Path(path).read_text(errors="replace")
        assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), f"{static} names another origin"


def test_the_api_docs_serve_swagger_ui_from_our_own_static_files(pages):
    client, url, _ = pages["API docs"]
    page = audit(client.get(url))
    scripts = [u for u in page.urls if "swagger" in u.lower() or "script" in u]
    assert any("drf_spectacular_sidecar" in u for u in scripts), f"Swagger UI is not served locally: {page.urls}"
    for asset in page.urls:
        if asset.startswith("/static/"):
            assert finders.find(asset.removeprefix("/static/")), f"{asset} is missing from static files"
        else:
            response = client.get(asset)
            assert response.status_code == 200, f"{asset}: {response.status_code}"


def test_templates_hold_no_inline_script_or_style():
    """Served templates (email templates are not served, and mail clients need inline styles)."""
    offenders = []
    for template in (ROOT / "templates").rglob("*.html"):
        if "email" in template.parts:
            continue
        text = template.read_text()
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text) or re.search(r"<style\b|\sstyle=|\son[a-z]+=", text, re.I):
            offenders.append(str(template.relative_to(ROOT)))
    assert offenders == []


def production_settings(**extra) -> dict:
    code = ("import django,json;django.setup();from django.conf import settings as s;print(json.dumps({k: getattr(s, k, None) for k in "
            "['SESSION_COOKIE_SECURE','SESSION_COOKIE_HTTPONLY','SESSION_COOKIE_SAMESITE','CSRF_COOKIE_SECURE','CSRF_COOKIE_HTTPONLY',"
            "'CSRF_COOKIE_SAMESITE','SECURE_HSTS_SECONDS','SECURE_HSTS_INCLUDE_SUBDOMAINS','SECURE_SSL_REDIRECT','SECURE_PROXY_SSL_HEADER',"
            "'X_FRAME_OPTIONS','SECURE_CONTENT_TYPE_NOSNIFF','DEBUG']}))")
    import json

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings", "PRODUCTION": "true", "SECRET_KEY": "x" * 60,
           "ALLOWED_HOSTS": "portal.example.org", **extra}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_production_cookies_are_secure_httponly_samesite_with_hsts(settings, staff):
    values = production_settings()
    assert values["SESSION_COOKIE_SECURE"] and values["CSRF_COOKIE_SECURE"]
    assert values["SESSION_COOKIE_HTTPONLY"] and values["CSRF_COOKIE_HTTPONLY"]
    assert values["SESSION_COOKIE_SAMESITE"] == values["CSRF_COOKIE_SAMESITE"] == "Lax"
    assert values["SECURE_HSTS_SECONDS"] >= 31536000 and values["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
    assert values["SECURE_SSL_REDIRECT"] and values["DEBUG"] is False

    # The same values, applied here, put those flags on the real cookies and headers.
    for key, value in values.items():
        setattr(settings, key, tuple(value) if isinstance(value, list) else value)
    settings.ALLOWED_HOSTS = ["portal.example.org"]
    client = Client(HTTP_HOST="portal.example.org", HTTP_X_FORWARDED_PROTO="https")
    assert client.get("/login/", HTTP_X_FORWARDED_PROTO="http").status_code == 301, "plain HTTP is redirected"
    response = client.post("/login/", {"username": "alice", "password": "pw-alice"}, HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["secure"] and session["httponly"] and session["samesite"] == "Lax"
    page = client.get("/studies/")
    assert "max-age=31536000" in page["Strict-Transport-Security"] and "includeSubDomains" in page["Strict-Transport-Security"]
    csrf = client.get("/login/").cookies.get("csrftoken") or client.cookies["csrftoken"]
    assert csrf["secure"] and csrf["httponly"] and csrf["samesite"] == "Lax"
