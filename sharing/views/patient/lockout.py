"""The passcode page of a link that has one; the lockout rule (per link and client address, with
a ceiling per link) is in sharing/shares/lockout.py."""

from __future__ import annotations

from django.shortcuts import redirect, render
from django.utils import translation

from ...ratelimits import client_address, limit_link, limit_passcode
from ...shares.lockout import Attempt, is_locked, try_passcode
from .access import SESSION_KEY, is_unlocked, live_share_or_response, private


@limit_link
@limit_passcode
def passcode(request, token: str):
    share, response = live_share_or_response(request, token)
    if response:
        return response
    if is_unlocked(request, share):
        return private(redirect("patient-landing", token=token))
    address = client_address(request)
    error = ""
    locked = is_locked(share, address)
    if request.method == "POST" and not locked:
        outcome, locked = try_passcode(share, address, request.POST.get("passcode", "").strip())
        if outcome is Attempt.RIGHT:
            request.session.cycle_key()
            request.session[SESSION_KEY] = request.session.get(SESSION_KEY, []) + [share.public_id.hex]
            return private(redirect("patient-landing", token=token))
        error = "wrong" if outcome is Attempt.WRONG else ""
    status = 429 if locked else (400 if error else 200)
    with translation.override(share.clinic.language or "en"):
        response = render(request, "sharing/patient/passcode.html",
                          {"clinic": share.clinic, "error": error, "locked": locked}, status=status)
    response = private(response)
    # With no-referrer, browsers post this page's form with "Origin: null", which Django's CSRF
    # check refuses (403). same-origin sends Origin and Referer to this site only: the token
    # still never leaves for another site, and the CSRF check keeps working.
    response["Referrer-Policy"] = "same-origin"
    return response
