"""Rate limits (django-ratelimit) on the patient link and its assets, the passcode and the API:
per client IP, configurable from the environment, 429 with Retry-After and a clear page or JSON."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.test import Client

from sharing.models import Share
from sharing.shares import service
from tests.security.conftest import add_link

pytestmark = pytest.mark.django_db

TOKEN = "T" * 43


def test_the_link_and_its_assets_share_one_budget_per_ip(north, settings):
    settings.RATELIMIT_LINK = "5/m"
    link = add_link(north.share, TOKEN)
    client = Client(REMOTE_ADDR="203.0.113.5")
    urls = [link, f"{link}/a/1/thumb", f"{link}/ultrasound.zip", f"/p/{'x' * 43}", f"{link}/a/2/media"]
    for url in urls:
        assert client.get(url).status_code != 429, f"{url} is within the budget"
    blocked = client.get(link)
    assert blocked.status_code == 429
    assert blocked["Retry-After"] == "60"
    assert "Too many requests came from your connection" in blocked.content.decode()
    assert "no-store" in blocked["Cache-Control"]
    assert client.get(f"{link}/a/1/thumb").status_code == 429, "assets count against the same budget"
    assert Client(REMOTE_ADDR="203.0.113.6").get(link).status_code == 200, "another client is not blocked"


def test_the_default_link_limit_lets_a_big_patient_page_load(north, settings):
    """A page with 20 images and 20 clips: thumbnails, posters, ranged video requests, downloads."""
    link = add_link(north.share, TOKEN)
    client = Client()
    statuses = [client.get(link).status_code]
    for item in range(1, 41):
        for variant in ("thumb", "poster", "media", "media", "download"):
            statuses.append(client.get(f"{link}/a/{item}/{variant}").status_code)
    statuses.append(client.get(f"{link}/ultrasound.zip").status_code)
    assert 429 not in statuses, f"{statuses.count(429)} of {len(statuses)} requests of one page view were refused"


def test_passcode_guesses_are_limited_per_ip_across_links(north, settings):
    settings.RATELIMIT_PASSCODE = "3/m"
    links = []
    for index in range(2):
        share = service.create_share(service.ShareRequest(study=north.study, email="p@example.org", passcode="471100"))
        links.append(add_link(share, chr(ord("A") + index) * 43))
    client = Client(REMOTE_ADDR="203.0.113.7")
    assert client.get(f"{links[0]}/passcode").status_code == 200, "showing the form does not count"
    for link in (links[0], links[0], links[1]):
        assert client.post(f"{link}/passcode", {"passcode": "0000"}).status_code == 400
    blocked = client.post(f"{links[1]}/passcode", {"passcode": "471100"})
    assert blocked.status_code == 429 and "Too many requests came from your connection" in blocked.content.decode()
    assert Share.objects.filter(failed_passcode_attempts__gt=0).count() == 2


def test_the_api_is_limited_with_a_json_429(api, settings):
    settings.RATELIMIT_API = "3/m"
    for _ in range(2):
        assert api.get("/api/v1/studies/").status_code == 200
    assert Client().get("/api/v1/shares/1/").status_code in (401, 403), "anonymous calls count too"
    blocked = api.get("/api/v1/studies/")
    assert blocked.status_code == 429
    assert blocked.json()["error"] == "rate_limited" and blocked["Retry-After"] == "60"
    stow = api.generic("POST", "/dicomweb/studies", b"", content_type='multipart/related; type="application/dicom"; boundary=x')
    assert stow.status_code == 429 and stow.json()["error"] == "rate_limited", "DICOMweb shares the API budget"


def settings_in_subprocess(code: str, **env) -> str:
    full = {**{k: v for k, v in os.environ.items() if not k.startswith("RATELIMIT_") and k != "REDIS_URL"},
            "DJANGO_SETTINGS_MODULE": "portal.settings", **env}
    script = f"import django;django.setup();from django.conf import settings as s;print({code})"
    return subprocess.run([sys.executable, "-c", script], env=full, capture_output=True, text=True, check=True).stdout.split("\n")[-2]


def test_limits_come_from_the_environment_and_count_in_redis_when_configured():
    assert settings_in_subprocess("s.RATELIMIT_LINK, s.RATELIMIT_PASSCODE, s.RATELIMIT_API",
                                  RATELIMIT_LINK="20000/m", RATELIMIT_PASSCODE="7/m", RATELIMIT_API="99/s") == (
        "20000/m 7/m 99/s")
    redis_backend = settings_in_subprocess(
        "__import__('django.core.cache', fromlist=['caches']).caches[s.RATELIMIT_USE_CACHE].__class__.__mro__",
        REDIS_URL="redis://127.0.0.1:6379/15")
    assert "django.core.cache.backends.redis.RedisCache" in redis_backend, "rate limits count in Redis when it is configured"
    # The embedded default counts atomically in process memory (the file cache's increment is not atomic).
    assert settings_in_subprocess("s.CACHES[s.RATELIMIT_USE_CACHE]['BACKEND']") == "django.core.cache.backends.locmem.LocMemCache"
