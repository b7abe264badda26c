"""Writes on shares. Views, the API and tasks call these; none of them holds the logic."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from .. import contacts
from ..delivery.channels import choose_channel, get_channel
from ..models import Clinic, Instance, Share, ShareEvent, ShareExclusion, ShareToken, Study
from . import lifecycle
from .passcodes import validate_passcode
from .tokens import hash_token, new_token

log = logging.getLogger(__name__)

# The limits of a share request, in one place: the API's serializers and the staff form read them.
MAX_EXPIRY_DAYS = 365
EMAIL_MAX_LENGTH = 254  # RFC 5321's limit on a forward path
PHONE_MAX_LENGTH = 32  # E.164 is 15 digits; room for spaces, dashes and a leading 00
PASSCODE_MAX_LENGTH = 64


@dataclass
class ShareRequest:
    """What staff or an integration asks for; contact fields are raw and validated here."""

    study: Study
    email: str = ""
    phone: str = ""
    channel: str = ""
    instance_ids: list[int] | None = None
    expires_in_days: int | None = None
    passcode: str = ""
    include_documents: bool = True


def validate_contact(clinic: Clinic, *, email: str, phone: str, channel: str = "", current: str = "") -> tuple[str, str, str]:
    """Return (channel name, normalized contact, mask), or raise ValidationError keyed by field.

    `channel` chooses explicitly; empty infers it from the filled field (email, or SMS for a
    number). `current` is the share's channel on resend, kept for a contact of the same kind.
    """
    chosen, raw = choose_channel(email=email, phone=phone, channel=channel, current=current)
    try:
        normalized = chosen.normalize(raw, clinic)
    except ValidationError as exc:
        raise ValidationError({chosen.contact_field: exc.messages}) from None
    return chosen.name, normalized, chosen.mask(normalized)


def expiry_from(clinic: Clinic, days: int | None) -> dt.datetime:
    days = clinic.link_lifetime_days if days is None else days
    if not 1 <= int(days) <= MAX_EXPIRY_DAYS:
        raise ValidationError({"expires_in_days": [f"Choose between 1 and {MAX_EXPIRY_DAYS} days."]})
    return timezone.now() + dt.timedelta(days=int(days))


def selected_instances(study: Study, instance_ids: list[int] | None) -> list[Instance]:
    instances = study.instances.order_by(*Instance.PAGE_ORDER)
    if not instance_ids:
        return list(instances)
    chosen = list(instances.filter(pk__in=instance_ids))
    if len(chosen) != len(set(instance_ids)):
        raise ValidationError({"instances": ["Some of these images are not part of this study."]})
    return chosen


def create_share(request: ShareRequest, *, user=None) -> Share:
    """Create a queued share and dispatch its pipeline once the transaction commits."""
    study = request.study
    clinic = study.clinic
    channel, contact, mask = validate_contact(clinic, email=request.email, phone=request.phone, channel=request.channel)
    try:
        validate_passcode(request.passcode)
    except ValidationError as exc:
        raise ValidationError({"passcode": exc.messages}) from None
    instances = selected_instances(study, request.instance_ids)
    if not instances:
        raise ValidationError({"instances": ["This study has no images to share yet."]})
    token = new_token()
    with transaction.atomic():
        share = Share(
            clinic=clinic, study=study, channel=channel, contact_masked=mask,
            delivery_secret=contacts.seal(contact, token),
            expires_at=expiry_from(clinic, request.expires_in_days), created_by=user,
            include_documents=request.include_documents, progress_total=len(instances),
        )
        share.set_passcode(request.passcode)
        share.save()
        share.instances.set(instances)
        ShareToken.objects.create(share=share, token_hash=hash_token(token))
        lifecycle.created(share, user=user)
    log.info("share %s created for study %s via %s", share.pk, study.pk, channel)
    return share


def revoke_share(share: Share, *, user=None) -> Share:
    """Kill the link at once (see `lifecycle.revoke`)."""
    return lifecycle.revoke(share, user=user)


def resend_share(share: Share, *, email: str = "", phone: str = "", channel: str = "", expires_in_days: int | None = None,
                 user=None) -> Share:
    """A new link and a new expiry; the old link dies at once. The contact is needed again unless
    the portal still holds it (it erases it after each delivery)."""
    with transaction.atomic():
        share = Share.objects.select_for_update().select_related("clinic").get(pk=share.pk)
        token = new_token()
        if email or phone:
            channel, contact, mask = validate_contact(share.clinic, email=email, phone=phone, channel=channel,
                                                      current=share.channel)
        else:
            held = contacts.unseal(share.delivery_secret)
            if held is None:
                raise ValidationError({"email": ["Enter the patient's email or mobile number again: the portal does not keep it after delivery."]})
            channel, contact, mask = switch_channel(share, held[0], channel) if channel else (
                share.channel, held[0], share.contact_masked)
        expires_at = expiry_from(share.clinic, expires_in_days)
        share.tokens.filter(retired_at__isnull=True).update(retired_at=timezone.now())
        ShareToken.objects.create(share=share, token_hash=hash_token(token))
        lifecycle.resend(share, channel=channel, contact_masked=mask, delivery_secret=contacts.seal(contact, token),
                         expires_at=expires_at, user=user)
    return share


def switch_channel(share: Share, contact: str, channel: str) -> tuple[str, str, str]:
    """Resend the held contact through another channel that takes the same kind of contact
    (an SMS share's number by WhatsApp); a different kind needs the contact typed again."""
    field = get_channel(share.channel).contact_field
    return validate_contact(share.clinic, channel=channel, email=contact if field == "email" else "",
                            phone=contact if field == "phone" else "")


def accept_exclusion(exclusion: ShareExclusion, *, user=None) -> Share:
    """Staff looked at an excluded instance and accept it: include it and re-run the pipeline."""
    if not exclusion.acceptable:
        raise ValidationError({"exclusion": ["This item cannot be accepted: it could not be anonymized or rendered."]})
    with transaction.atomic():
        share = Share.objects.select_for_update().get(pk=exclusion.share_id)
        if exclusion.accepted_at is None:
            exclusion.accepted_at, exclusion.accepted_by = timezone.now(), user
            exclusion.save(update_fields=["accepted_at", "accepted_by"])
            lifecycle.exclusion_accepted(share, user=user)
            share.refresh_from_db()
    return share


def record_event(share: Share, kind: str, *, first_field: str | None = None) -> None:
    """Record a patient event; `first_field` (opened_at, downloaded_at) keeps the first time."""
    now = timezone.now()
    ShareEvent.objects.create(share=share, kind=kind, at=now)
    if first_field:
        Share.objects.filter(pk=share.pk, **{f"{first_field}__isnull": True}).update(**{first_field: now})
