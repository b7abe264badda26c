"""Writes on shares. Views, the API and tasks call these; none of them holds the logic."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from .. import contacts
from ..models import Clinic, Instance, Share, ShareEvent, ShareExclusion, ShareToken, Study
from .passcodes import validate_passcode
from .tokens import hash_token, new_token

log = logging.getLogger(__name__)

MAX_EXPIRY_DAYS = 365


@dataclass
class ShareRequest:
    """What staff or an integration asks for; contact fields are raw and validated here."""

    study: Study
    email: str = ""
    phone: str = ""
    instance_ids: list[int] | None = None
    expires_in_days: int | None = None
    passcode: str = ""
    include_documents: bool = True


def validate_contact(clinic: Clinic, *, email: str, phone: str) -> tuple[str, str, str]:
    """Return (channel, normalized contact, mask), or raise ValidationError keyed by field."""
    email, phone = (email or "").strip(), (phone or "").strip()
    if bool(email) == bool(phone):
        raise ValidationError({"email": ["Give an email address or a mobile number (one of them)."]})
    if email:
        try:
            normalized = contacts.normalize_email(email)
        except ValidationError as exc:
            raise ValidationError({"email": exc.messages}) from None
        return Share.Channel.EMAIL, normalized, contacts.mask_email(normalized)
    try:
        normalized = contacts.normalize_phone(phone, clinic.sms_region)
    except ValidationError as exc:
        raise ValidationError({"phone": exc.messages}) from None
    return Share.Channel.SMS, normalized, contacts.mask_phone(normalized)


def expiry_from(clinic: Clinic, days: int | None) -> dt.datetime:
    days = clinic.link_lifetime_days if days is None else days
    if not 1 <= int(days) <= MAX_EXPIRY_DAYS:
        raise ValidationError({"expires_in_days": [f"Choose between 1 and {MAX_EXPIRY_DAYS} days."]})
    return timezone.now() + dt.timedelta(days=int(days))


def selected_instances(study: Study, instance_ids: list[int] | None) -> list[Instance]:
    instances = study.instances.order_by("series__series_number", "series_id", "instance_number", "id")
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
    channel, contact, mask = validate_contact(clinic, email=request.email, phone=request.phone)
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
        ShareEvent.objects.create(share=share, kind=ShareEvent.Kind.CREATED, user=user)
        dispatch(share)
    log.info("share %s created for study %s via %s", share.pk, study.pk, channel)
    return share


def dispatch(share: Share) -> None:
    """Enqueue the pipeline after commit. If the broker is down the share stays queued in the
    database (our transactional outbox) and the sweep re-dispatches it when the broker is back."""
    from ..tasks import prepare_share

    share_id, generation = share.pk, share.generation

    def send():
        try:
            prepare_share.apply_async((share_id, generation), queue="render", retry=False)
        except Exception as exc:  # kombu raises OperationalError and friends
            log.warning("share %s not dispatched, broker unavailable (%s); the sweep will retry", share_id, exc.__class__.__name__)
            return
        Share.objects.filter(pk=share_id).update(dispatched_at=timezone.now())

    transaction.on_commit(send, robust=True)


def revoke_share(share: Share, *, user=None) -> Share:
    with transaction.atomic():
        share = Share.objects.select_for_update().get(pk=share.pk)
        if share.revoked_at is None:
            share.revoked_at = timezone.now()
            share.delivery_secret = None  # nothing will be delivered now: drop the contact
            share.save(update_fields=["revoked_at", "delivery_secret", "updated_at"])
            ShareEvent.objects.create(share=share, kind=ShareEvent.Kind.REVOKED, user=user)
    return share


def resend_share(share: Share, *, email: str = "", phone: str = "", expires_in_days: int | None = None, user=None) -> Share:
    """A new link and a new expiry; the old link dies at once. The contact is needed again unless
    the portal still holds it (it erases it after each delivery)."""
    with transaction.atomic():
        share = Share.objects.select_for_update().select_related("clinic").get(pk=share.pk)
        token = new_token()
        if email or phone:
            channel, contact, mask = validate_contact(share.clinic, email=email, phone=phone)
        else:
            held = contacts.unseal(share.delivery_secret)
            if held is None:
                raise ValidationError({"email": ["Enter the patient's email or mobile number again: the portal does not keep it after delivery."]})
            channel, contact, mask = share.channel, held[0], share.contact_masked
        share.channel, share.contact_masked = channel, mask
        share.delivery_secret = contacts.seal(contact, token)
        share.tokens.filter(retired_at__isnull=True).update(retired_at=timezone.now())
        ShareToken.objects.create(share=share, token_hash=hash_token(token))
        share.expires_at = expiry_from(share.clinic, expires_in_days)
        share.revoked_at = None
        share.generation += 1
        share.status, share.error, share.step = Share.Status.QUEUED, "", ""
        share.save()
        ShareEvent.objects.create(share=share, kind=ShareEvent.Kind.RESENT, user=user)
        dispatch(share)
    return share


def accept_exclusion(exclusion: ShareExclusion, *, user=None) -> Share:
    """Staff looked at an excluded instance and accept it: include it and re-run the pipeline."""
    if not exclusion.acceptable:
        raise ValidationError({"exclusion": ["This item cannot be accepted: it could not be anonymized or rendered."]})
    with transaction.atomic():
        share = Share.objects.select_for_update().get(pk=exclusion.share_id)
        if exclusion.accepted_at is None:
            exclusion.accepted_at, exclusion.accepted_by = timezone.now(), user
            exclusion.save(update_fields=["accepted_at", "accepted_by"])
            ShareEvent.objects.create(share=share, kind=ShareEvent.Kind.ACCEPTED, user=user)
            if share.status == Share.Status.FAILED:
                share.status, share.error = Share.Status.QUEUED, ""
                share.save(update_fields=["status", "error", "updated_at"])
            dispatch(share)
    return share


def record_event(share: Share, kind: str, *, first_field: str | None = None) -> None:
    """Record a patient event; `first_field` (opened_at, downloaded_at) keeps the first time."""
    now = timezone.now()
    ShareEvent.objects.create(share=share, kind=kind, at=now)
    if first_field:
        Share.objects.filter(pk=share.pk, **{f"{first_field}__isnull": True}).update(**{first_field: now})
