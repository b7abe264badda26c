"""Who may open a patient's link: the access rule for the page, its assets and the ZIP.

No login: the token is the key. Only its hash is stored, so a lookup hashes and queries the same
way for every token; an unknown token costs the same time as a known one and answers 404.
Expired or revoked links answer 410 with a clear page. Every response says no-store and
no-referrer, so the link does not leak through caches or Referer headers; the passcode page says
same-origin, so its form can post (see `lockout.passcode`).
"""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import translation

from ...models import Share, ShareToken
from ...shares.tokens import hash_token

SESSION_KEY = "unlocked_shares"


def private(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def find_token(token: str) -> ShareToken | None:
    # One indexed query whether the token exists or not: a miss costs what a hit costs.
    return (
        ShareToken.objects.select_related("share__clinic")
        .only(*LINK_CHECK_FIELDS)
        .filter(token_hash=hash_token(token))
        .first()
    )


# What checking a link needs, and no more: this query runs on every patient request.
LINK_CHECK_FIELDS = (
    "retired_at", "share__id", "share__public_id", "share__expires_at", "share__revoked_at",
    "share__updated_at", "share__passcode_hash", "share__opened_at", "share__failed_passcode_attempts",
    "share__passcode_locked_until", "share__clinic__id", "share__clinic__name", "share__clinic__language",
    "share__clinic__logo", "share__clinic__message", "share__clinic__link_passcode_hash",
)


def gone(request, share: Share, *, replaced: bool = False) -> HttpResponse:
    context = {"clinic": share.clinic, "revoked": share.is_revoked, "replaced": replaced}
    with translation.override(share.clinic.language or "en"):
        response = render(request, "sharing/patient/gone.html", context, status=410)
    return private(response)


def not_found(request) -> HttpResponse:
    return private(render(request, "sharing/patient/not_found.html", status=404))


def is_unlocked(request, share: Share) -> bool:
    return not share.needs_passcode or share.public_id.hex in request.session.get(SESSION_KEY, [])


def live_share_or_response(request, token: str):
    found = find_token(token)
    if found is None:
        return None, not_found(request)
    share = found.share
    if found.retired_at is not None:
        return None, gone(request, share, replaced=True)
    if not share.is_live:
        return None, gone(request, share)
    return share, None


def open_share_or_response(request, token: str, *, when_locked=lambda token: HttpResponse(status=403)):
    """The access rule for the page and its assets: a live link, unlocked by its passcode if it has one."""
    share, response = live_share_or_response(request, token)
    if response:
        return None, response
    if not is_unlocked(request, share):
        return None, private(when_locked(token))
    return share, None


