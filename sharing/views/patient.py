"""The patient's personal page at /p/<token>, its assets and the streamed ZIP.

No login: the token is the key. Only its hash is stored, so a lookup hashes and queries the same
way for every token; an unknown token costs the same time as a known one and answers 404.
Expired or revoked links answer 410 with a clear page. Every response says no-store and
no-referrer, so the link does not leak through caches or Referer headers; the passcode page says
same-origin, so its form can post (see `passcode`).
"""

from __future__ import annotations

import zipfile

from django.http import FileResponse, Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.core.cache import caches
from django.template.loader import render_to_string
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ..models import Clinic, Share, ShareEvent, ShareItem, ShareToken
from ..ratelimits import client_address, limit_link, limit_passcode
from ..shares.lockout import Attempt, is_locked, try_passcode
from ..shares.service import record_event
from ..shares.tokens import hash_token
from .ranges import ranged_file_response

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


@limit_link
def landing(request, token: str):
    share, response = open_share_or_response(
        request, token, when_locked=lambda token: redirect("patient-passcode", token=token)
    )
    if response:
        return response
    return private(HttpResponse(landing_html(request, share, token)))


# The page is the same for every visitor of a link (it carries no CSRF token: the "opened" beacon
# is authorised by the link itself), so each web process keeps it rendered for a minute. The key
# has the share's updated_at, which every pipeline step, revoke and resend moves; expiry and
# revocation are checked on every request before the cache, so a dead link never serves a page.
LANDING_CACHE_SECONDS = 60


def landing_html(request, share: Share, token: str) -> str:
    language = share.clinic.language or "en"
    key = f"landing:{hash_token(token)}:{share.updated_at.timestamp()}:{language}:{share.needs_passcode:d}"
    cache = caches["pages"]
    html = cache.get(key)
    if html is None:
        with translation.override(language):
            items = visible_items(share)
            context = {
                "share": share, "clinic": share.clinic, "token": token, "items": items, "LANGUAGE_CODE": language,
                "images": [i for i in items if i.kind == ShareItem.Kind.IMAGE],
                "clips": [i for i in items if i.kind == ShareItem.Kind.CLIP],
                "documents": [i for i in items if i.kind == ShareItem.Kind.DOCUMENT],
            }
            html = render_to_string("sharing/patient/landing.html", context, request=None)
        cache.set(key, html, LANDING_CACHE_SECONDS)
    return html


@limit_link
@limit_passcode
def passcode(request, token: str):
    share, response = live_share_or_response(request, token)
    if response:
        return response
    if is_unlocked(request, share):
        return private(redirect("patient-landing", token=token))
    # Lockout per link and client address, with a ceiling per link (sharing/shares/lockout.py).
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


def visible_items(share: Share) -> list[ShareItem]:
    """What the patient may see now: documents only while the link still asks for a passcode."""
    items = share.items.all()
    if not share.needs_passcode:
        items = items.exclude(kind=ShareItem.Kind.DOCUMENT)
    return list(items)


def item_or_404(share: Share, item_id: int) -> ShareItem:
    item = share.items.filter(pk=item_id).first()
    if item is None:
        raise Http404
    return item


@limit_link
def asset(request, token: str, item_id: int, variant: str):
    """Serve one asset after checking the link on this very request; `download` marks a download."""
    share, response = open_share_or_response(request, token)
    if response:
        return response
    item = item_or_404(share, item_id)
    if item.kind == ShareItem.Kind.DOCUMENT and not share.needs_passcode:
        raise Http404  # documents go out only behind a passcode; it was removed since publishing
    field = {"media": item.media, "download": item.media, "thumb": item.thumbnail, "poster": item.poster}.get(variant)
    if not field:
        raise Http404
    if variant == "download":
        record_event(share, ShareEvent.Kind.DOWNLOADED, first_field="downloaded_at")
        mark_opened(share)
    content_type = item.content_type if variant in ("media", "download") else "image/jpeg"
    response = ranged_file_response(request, field, content_type=content_type, as_attachment=variant == "download",
                                    filename=item.download_name if variant == "download" else None)
    return private(response)


def mark_opened(share: Share) -> None:
    if share.opened_at is None:
        record_event(share, ShareEvent.Kind.OPENED, first_field="opened_at")


@limit_link
@csrf_exempt  # authorised by the link token itself; marking "opened" twice changes nothing
@require_POST
def opened(request, token: str):
    """The page's script calls this on a human action (a tap on an image, a play, a button);
    mail scanners that prefetch the link never run it, so they never count as 'opened'."""
    share, response = live_share_or_response(request, token)
    if response:
        return response
    if is_unlocked(request, share):
        mark_opened(share)
    return private(JsonResponse({"ok": True}))


class ZipStream:
    """A write-only file object that hands zipfile's output to a streaming response in chunks."""

    def __init__(self):
        self.chunks: list[bytes] = []
        self.position = 0

    def write(self, data: bytes) -> int:
        self.chunks.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


def zip_chunks(items: list[ShareItem]):
    stream = ZipStream()
    # Stored, not deflated: JPG and MP4 are compressed already. Entry names carry no identifier.
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for item in items:
            info = zipfile.ZipInfo(item.download_name, date_time=timezone.now().timetuple()[:6])
            info.compress_type = zipfile.ZIP_STORED
            with archive.open(info, "w", force_zip64=item.size > 2**31) as entry, item.media.open("rb") as src:
                while chunk := src.read(1024 * 1024):
                    entry.write(chunk)
                    yield stream.drain()
            yield stream.drain()
    yield stream.drain()


@limit_link
def download_all(request, token: str):
    share, response = open_share_or_response(request, token)
    if response:
        return response
    items = visible_items(share)
    if not items:
        raise Http404
    record_event(share, ShareEvent.Kind.DOWNLOADED, first_field="downloaded_at")
    mark_opened(share)
    response = StreamingHttpResponse(zip_chunks(items), content_type="application/zip")
    response["Content-Disposition"] = 'attachment; filename="ultrasound.zip"'
    return private(response)


@limit_link
def clinic_logo(request, clinic_id: int):
    """Clinic branding is public (it identifies the clinic, not the patient)."""
    clinic = Clinic.objects.filter(pk=clinic_id).exclude(logo="").first()
    if clinic is None:
        raise Http404
    response = FileResponse(clinic.logo.open("rb"))
    response["Cache-Control"] = "public, max-age=86400"
    return response
