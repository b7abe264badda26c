"""Staff review of an image left out of a share because its burned-in text could not be verified:
the anonymized rendering with the remaining text boxes outlined; accept it, or black out a box and
accept. Thin: each view parses, calls one service, and redirects."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from .. import review
from ..models import ShareExclusion
from .shares import share_or_404, study_url


def exclusion_or_404(user, share_id: int, exclusion_id: int) -> ShareExclusion:
    share = share_or_404(user, share_id)
    exclusion = ShareExclusion.objects.filter(share=share, pk=exclusion_id, instance__isnull=False).select_related(
        "share", "share__study").first()
    if exclusion is None:
        raise Http404
    return exclusion


@login_required
@require_GET
def review_page(request, share_id: int, exclusion_id: int):
    exclusion = exclusion_or_404(request.user, share_id, exclusion_id)
    boxes = [{"number": number, "box": box} for number, box in enumerate(exclusion.review_boxes, start=1)]
    return render(request, "sharing/exclusion_review.html", {
        "exclusion": exclusion, "share": exclusion.share, "study": exclusion.share.study, "boxes": boxes,
    })


@login_required
@require_GET
def review_image(request, share_id: int, exclusion_id: int):
    exclusion = exclusion_or_404(request.user, share_id, exclusion_id)
    if not exclusion.review_image:
        raise Http404
    response = FileResponse(exclusion.review_image.open("rb"), content_type="image/jpeg")
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_POST
def blackout_and_accept(request, share_id: int, exclusion_id: int):
    exclusion = exclusion_or_404(request.user, share_id, exclusion_id)
    try:
        number = int(request.POST.get("box", ""))
    except ValueError:
        number = 0
    try:
        review.blackout_and_accept(exclusion, number, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(m for errors in exc.message_dict.values() for m in errors))
        return redirect("share-exclusion-review", share_id, exclusion_id)
    messages.success(request, _("Box %(number)s will be blacked out in every frame, and the image added to the patient's page.")
                     % {"number": number})
    return redirect(f"{study_url(exclusion.share.study)}#history")
