"""Deliver a share's link to the patient: exactly one message per share and per resend.

The share row is locked while we send, and `delivered_generation` records what went out; a task
that runs twice finds the generation delivered and sends nothing. The outboxes and Twilio also get
an idempotency key, which covers the gap between a send and its commit. The channel (email, SMS,
WhatsApp ...) comes from the registry in `channels`.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import translation

from .. import contacts
from ..models import Share
from ..shares import lifecycle
from ..shares.tokens import patient_link
from .channels import PermanentDeliveryError, TransientDeliveryError, get_channel

__all__ = ["PermanentDeliveryError", "TransientDeliveryError", "deliver_share"]

log = logging.getLogger(__name__)


def deliver_share(share_id: int, generation: int) -> bool:
    """Send the link once for this generation. Returns True if a message was sent now.

    Raises PermanentDeliveryError or TransientDeliveryError; `lifecycle.deliver` decides what
    follows them.
    """
    with transaction.atomic():
        share = Share.objects.select_for_update().select_related("clinic").get(pk=share_id)
        if share.generation != generation or share.delivered_generation >= generation or share.is_revoked:
            return False
        held = contacts.unseal(share.delivery_secret)
        if held is None:
            raise PermanentDeliveryError("the contact details are no longer held; resend with the patient's contact")
        contact, token = held
        channel = get_channel(share.channel)
        lifecycle.delivering(share)
        with translation.override(share.clinic.language or "en"):
            channel.send(share, contact, patient_link(token), key=f"share-{share.public_id.hex}-{generation}")
        lifecycle.delivered(share, generation, channel_label=str(channel.label))
    log.info("share %s delivered (generation %s)", share_id, generation)
    return True
