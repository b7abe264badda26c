"""Deliver a share's link to the patient: exactly one message per share and per resend.

The share row is locked while we send, and `delivered_generation` records what went out; a task
that runs twice finds the generation delivered and sends nothing. The outboxes and Twilio also get
an idempotency key, which covers the gap between a send and its commit.
"""

from __future__ import annotations

import logging
import smtplib
import socket

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from .. import contacts
from ..models import Share, ShareEvent
from ..shares.tokens import patient_link
from .email_backends import IDEMPOTENCY_HEADER
from .sms_backends import SmsError, get_sms_backend

log = logging.getLogger(__name__)


class TransientDeliveryError(Exception):
    """Retrying later may succeed (a server down, a timeout, a 4xx from SMTP)."""


class PermanentDeliveryError(Exception):
    """Retrying cannot help (address refused, number invalid, credentials wrong)."""


def message_context(share: Share, link: str) -> dict:
    clinic = share.clinic
    return {
        "clinic_name": clinic.name,
        "clinic_message": clinic.message,
        "logo_url": f"{settings.PUBLIC_URL}/branding/{clinic.pk}/logo" if clinic.logo else "",
        "link": link,
        "expires_at": share.expires_at,
        "needs_passcode": share.needs_passcode,
    }


def send_email(share: Share, to: str, link: str, key: str) -> None:
    context = message_context(share, link)
    subject = render_to_string("sharing/email/share_subject.txt", context).strip()
    text = render_to_string("sharing/email/share.txt", context)
    html = render_to_string("sharing/email/share.html", context)
    message = EmailMultiAlternatives(subject, text, to=[to], headers={IDEMPOTENCY_HEADER: key})
    message.attach_alternative(html, "text/html")
    try:
        message.send()
    except smtplib.SMTPRecipientsRefused as exc:
        codes = sorted({code for code, _ in exc.recipients.values()})
        # 4xx (greylisting, a full mailbox) may pass later; only 5xx is a refusal.
        if all(code >= 500 for code in codes):
            raise PermanentDeliveryError(f"the mail server refused the recipient address ({codes[0]})") from None
        raise TransientDeliveryError(f"the mail server deferred the recipient ({codes[0]})") from None
    except smtplib.SMTPAuthenticationError:
        raise PermanentDeliveryError("the mail server refused the portal's credentials") from None
    except smtplib.SMTPResponseException as exc:
        if exc.smtp_code >= 500:
            raise PermanentDeliveryError(f"the mail server refused the message ({exc.smtp_code})") from None
        raise TransientDeliveryError(f"the mail server deferred the message ({exc.smtp_code})") from None
    except (smtplib.SMTPException, socket.timeout, ConnectionError, OSError):
        raise TransientDeliveryError("the mail server could not be reached") from None


def send_sms(share: Share, to: str, link: str, key: str) -> None:
    body = render_to_string("sharing/sms/share.txt", message_context(share, link)).strip()
    try:
        get_sms_backend().send(to, body, key)
    except SmsError as exc:
        if exc.permanent:
            raise PermanentDeliveryError(str(exc)) from None
        raise TransientDeliveryError(str(exc)) from None


def deliver_share(share_id: int, generation: int) -> bool:
    """Send the link once for this generation. Returns True if a message was sent now."""
    with transaction.atomic():
        share = Share.objects.select_for_update().select_related("clinic").get(pk=share_id)
        if share.generation != generation or share.delivered_generation >= generation or share.is_revoked:
            return False
        held = contacts.unseal(share.delivery_secret)
        if held is None:
            mark_failed(share, "the contact details are no longer held; resend with the patient's contact")
            return False
        contact, token = held
        key = f"share-{share.public_id.hex}-{generation}"
        Share.objects.filter(pk=share.pk).update(step="delivering")
        with translation.override(share.clinic.language or "en"):
            if share.channel == Share.Channel.EMAIL:
                send_email(share, contact, patient_link(token), key)
            else:
                send_sms(share, contact, patient_link(token), key)
        share.delivered_generation = generation
        share.delivered_at = timezone.now()
        share.status, share.step, share.error = Share.Status.SENT, "", ""
        share.delivery_secret = None  # delivered: erase the contact and the token
        share.save(update_fields=["delivered_generation", "delivered_at", "status", "step", "error", "delivery_secret", "updated_at"])
        ShareEvent.objects.create(share=share, kind=ShareEvent.Kind.DELIVERED, detail=share.get_channel_display())
    log.info("share %s delivered (generation %s)", share_id, generation)
    return True


def mark_failed(share: Share, reason: str) -> None:
    """Permanent failure: staff see the reason; the contact is erased, as nothing will be sent."""
    Share.objects.filter(pk=share.pk).update(
        status=Share.Status.FAILED, error=reason[:500], step="", delivery_secret=None, updated_at=timezone.now()
    )
    ShareEvent.objects.create(share=share, kind=ShareEvent.Kind.FAILED, detail=reason[:300])
    log.warning("share %s failed: %s", share.pk, reason)
