"""Rate limits on the doors that face the internet: the patient link, its passcode, the API.

django-ratelimit counts per client IP in the "ratelimit" cache (Redis in production). The rates
come from settings (RATELIMIT_LINK, RATELIMIT_PASSCODE, RATELIMIT_API, from the environment) and
are read on every request, so operators and tests can change them without touching code. A
blocked request raises Ratelimited; RatelimitMiddleware hands it to `rate_limited`, which answers
429 with a Retry-After header: JSON for API clients, a page for people.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django_ratelimit.decorators import ratelimit

PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
API_PREFIXES = ("/api/", "/dicomweb/")


def link_rate(group, request) -> str:
    return settings.RATELIMIT_LINK


def passcode_rate(group, request) -> str:
    return settings.RATELIMIT_PASSCODE


def api_rate(group, request) -> str:
    return settings.RATELIMIT_API


# One budget per IP for the page and all its assets: the link is one door however it is used.
limit_link = ratelimit(group="patient-link", key="ip", rate=link_rate, block=True)
# Guessing passcodes: only POSTs count. Each link also locks out a guessing address (sharing/shares/lockout.py).
limit_passcode = ratelimit(group="patient-passcode", key="ip", rate=passcode_rate, method="POST", block=True)
# Integrations (REST and DICOMweb). Token authentication happens inside DRF, after this check,
# so an unauthenticated flood is counted too.
limit_api = ratelimit(group="api", key="ip", rate=api_rate, block=True)


def client_address(request) -> str:
    """The client address the limits count by: RATELIMIT_IP_META_KEY behind a proxy, else REMOTE_ADDR.

    An IPv6 client is counted by its /64, as django-ratelimit does: one host usually holds a
    whole /64 and could otherwise take a fresh address for every guess.
    """
    meta_key = getattr(settings, "RATELIMIT_IP_META_KEY", None) or "REMOTE_ADDR"
    value = request.META.get(meta_key, "").split(",")[0].strip()
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return value
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False).network_address)
    return str(address)


def retry_after(rate: str) -> int:
    """Seconds in the rate's window: "600/m" -> 60, "10/5m" -> 300."""
    period = rate.partition("/")[2] or "m"
    count = int(period[:-1]) if period[:-1].isdigit() else 1
    return count * PERIOD_SECONDS.get(period[-1], 60)


def rate_limited(request, exception) -> HttpResponse:
    path = request.path
    if path.startswith(API_PREFIXES):
        seconds = retry_after(settings.RATELIMIT_API)
        response = JsonResponse(
            {"error": "rate_limited", "detail": f"Too many requests. Try again in {seconds} seconds."}, status=429,
        )
    else:
        seconds = retry_after(settings.RATELIMIT_LINK)
        response = render(request, "sharing/patient/rate_limited.html", {"seconds": seconds}, status=429)
        response["Cache-Control"] = "private, no-store"
        response["Referrer-Policy"] = "no-referrer"
    response["Retry-After"] = str(seconds)
    return response
