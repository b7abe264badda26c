"""Staff actions on shares: create from the study page, revoke, resend, accept an exclusion,
and the progress the study page polls. Each view parses, calls one service, and redirects."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _, gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from .. import selectors
from ..delivery.channels import channel_choices
from ..models import Share, ShareExclusion
from ..shares import service
from ..thumbnails import instance_thumbnail


class ShareForm(forms.Form):
    email = forms.CharField(label=gettext_lazy("Patient's email"), required=False, max_length=service.EMAIL_MAX_LENGTH,
                            widget=forms.EmailInput(attrs={"autocomplete": "off", "placeholder": "name@example.org"}))
    phone = forms.CharField(label=gettext_lazy("or mobile number"), required=False, max_length=service.PHONE_MAX_LENGTH,
                            widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "tel", "placeholder": "+1 555 123 4567"}))
    channel = forms.ChoiceField(label=gettext_lazy("Send by"), required=False)
    instances = forms.TypedMultipleChoiceField(label=gettext_lazy("Images and clips"), required=False, coerce=int,
                                               widget=forms.CheckboxSelectMultiple)
    expires_in_days = forms.IntegerField(label=gettext_lazy("Link valid for (days)"), required=False, min_value=1, max_value=service.MAX_EXPIRY_DAYS)
    passcode = forms.CharField(label=gettext_lazy("Passcode (optional)"), required=False, max_length=service.PASSCODE_MAX_LENGTH,
                               widget=forms.TextInput(attrs={"autocomplete": "off"}))

    def __init__(self, *args, instances=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["instances"].choices = [(i.pk, str(i.pk)) for i in instances]
        # Empty: email for an address, SMS for a number, as before the choice existed.
        self.fields["channel"].choices = [("", _("Automatic (email or SMS)")), *channel_choices()]


def study_or_404(user, study_id):
    try:
        return selectors.study_for_user(user, study_id)
    except selectors.Study.DoesNotExist:
        raise Http404 from None


def share_or_404(user, share_id):
    try:
        return selectors.share_for_user(user, share_id)
    except Share.DoesNotExist:
        raise Http404 from None


@login_required
@require_POST
def create(request, study_id: int):
    from .staff import render_study

    study = study_or_404(request.user, study_id)
    form = ShareForm(request.POST, instances=selectors.instances_of_study(study))
    if form.is_valid():
        data = form.cleaned_data
        try:
            service.create_share(
                service.ShareRequest(
                    study=study, email=data["email"], phone=data["phone"], channel=data["channel"],
                    instance_ids=data["instances"] or None,
                    expires_in_days=data["expires_in_days"], passcode=data["passcode"],
                ),
                user=request.user,
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, _("Shared. The patient will get the link in a moment."))
            return redirect(f"{study_url(study)}#history")
    return render_study(request, study, form, status=400)


def study_url(study) -> str:
    from django.urls import reverse

    return reverse("study", args=[study.pk])


@login_required
@require_POST
def revoke(request, share_id: int):
    share = share_or_404(request.user, share_id)
    service.revoke_share(share, user=request.user)
    messages.success(request, _("The link was revoked. It no longer opens."))
    return redirect(f"{study_url(share.study)}#history")


@login_required
@require_POST
def resend(request, share_id: int):
    share = share_or_404(request.user, share_id)
    return act_and_report(
        request, share,
        lambda: service.resend_share(share, email=request.POST.get("email", ""), phone=request.POST.get("phone", ""),
                                     channel=request.POST.get("channel", ""), user=request.user),
        _("A new link is on its way. The old link no longer opens."),
    )


@login_required
@require_POST
def accept_exclusion(request, share_id: int, exclusion_id: int):
    share = share_or_404(request.user, share_id)
    exclusion = ShareExclusion.objects.filter(share=share, pk=exclusion_id).first()
    if exclusion is None:
        raise Http404
    return act_and_report(
        request, share, lambda: service.accept_exclusion(exclusion, user=request.user),
        _("Accepted. It will be added to the patient's page."),
    )


def act_and_report(request, share, action, success: str):
    """Run a share action; show its validation errors or `success`, then return to the history."""
    try:
        action()
    except ValidationError as exc:
        messages.error(request, " ".join(m for errors in exc.message_dict.values() for m in errors))
    else:
        messages.success(request, success)
    return redirect(f"{study_url(share.study)}#history")


@login_required
@require_GET
def progress(request, share_id: int):
    share = share_or_404(request.user, share_id)
    return JsonResponse({
        "id": share.pk, "status": share.status, "step": share.step, "error": share.error,
        "done": share.progress_done, "total": share.progress_total,
    })


@login_required
@require_GET
def thumbnail(request, study_id: int, instance_id: int):
    study = study_or_404(request.user, study_id)
    instance = study.instances.filter(pk=instance_id).first()
    if instance is None:
        raise Http404
    thumb = instance_thumbnail(instance)
    if thumb is None:
        raise Http404
    response = FileResponse(thumb.open("rb"), content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=3600"
    return response
