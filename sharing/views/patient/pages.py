"""The patient's personal page at /p/<token>, its assets, the "opened" beacon and the clinic's logo.
Who may open a link is decided in `access`; every file is served as its format says
(sharing/previews/formats.py)."""

from __future__ import annotations

from django.core.cache import caches
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ...models import Clinic, Share, ShareEvent, ShareItem
from ...ratelimits import limit_link
from ...shares.service import record_event
from ...shares.tokens import hash_token
from ..ranges import ranged_file_response
from .access import live_share_or_response, open_share_or_response, private, is_unlocked


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
    rendition = item.format.renditions.get(variant)
    field = getattr(item, rendition.field) if rendition else None
    if not field:
        raise Http404
    if variant == "download":
        record_event(share, ShareEvent.Kind.DOWNLOADED, first_field="downloaded_at")
        mark_opened(share)
    response = ranged_file_response(request, field, content_type=rendition.content_type, as_attachment=variant == "download",
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


@limit_link
def clinic_logo(request, clinic_id: int):
    """Clinic branding is public (it identifies the clinic, not the patient)."""
    clinic = Clinic.objects.filter(pk=clinic_id).exclude(logo="").first()
    if clinic is None:
        raise Http404
    response = FileResponse(clinic.logo.open("rb"))
    response["Cache-Control"] = "public, max-age=86400"
    return response
