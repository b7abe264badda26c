"""Delivery channels as a registry, in the style of healthchecks' transports.

A channel is one entry in `CHANNELS` and one module beside this one. It declares its name (what
``Share.channel`` holds and the API's ``channel`` takes), the contact field it reads (``email`` or
``phone``), how it validates, normalises and masks a contact, its message templates, and how it
sends (through its backends: a file outbox, locmem for tests, a provider).

Sending raises PermanentDeliveryError or TransientDeliveryError; the share's life cycle
(`sharing.shares.lifecycle`) decides what follows either.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .base import Channel, PermanentDeliveryError, TransientDeliveryError
from .email import EmailChannel
from .sms import SmsChannel
from .whatsapp import WhatsAppChannel

CHANNELS: dict[str, Channel] = {channel.name: channel for channel in (EmailChannel(), SmsChannel(), WhatsAppChannel())}

# Today's inference, kept as the default so integrations that send only a contact keep working:
# an email address goes by email, a mobile number by SMS.
DEFAULT_FOR_FIELD = {"email": "email", "phone": "sms"}

__all__ = ["CHANNELS", "Channel", "PermanentDeliveryError", "TransientDeliveryError", "channel_choices",
           "get_channel", "choose_channel"]


def channel_choices() -> list[tuple[str, str]]:
    """``(name, label)`` pairs for the model, the form and the API."""
    return [(channel.name, channel.label) for channel in CHANNELS.values()]


def get_channel(name: str) -> Channel:
    return CHANNELS[name]


def choose_channel(*, email: str, phone: str, channel: str = "", current: str = "") -> tuple[Channel, str]:
    """Pick the channel for a contact and return it with the raw contact it will use.

    Parameters
    ----------
    email, phone : str
        The raw contact fields; exactly one is expected.
    channel : str
        The channel asked for explicitly; empty infers it from the field that is filled.
    current : str
        The share's present channel (resend): kept when the new contact is of the same kind.

    Raises
    ------
    ValidationError
        Keyed by field, with sentences staff can act on.
    """
    email, phone = (email or "").strip(), (phone or "").strip()
    if channel:
        if channel not in CHANNELS:
            raise ValidationError({"channel": [_("Choose one of: %s.") % ", ".join(CHANNELS)]})
        chosen = CHANNELS[channel]
        value = email if chosen.contact_field == "email" else phone
        other = phone if chosen.contact_field == "email" else email
        if not value or other:
            raise ValidationError({chosen.contact_field: [chosen.missing_contact_message]})
        return chosen, value
    if bool(email) == bool(phone):
        raise ValidationError({"email": [_("Give an email address or a mobile number (one of them).")]})
    field = "email" if email else "phone"
    if current in CHANNELS and CHANNELS[current].contact_field == field:
        return CHANNELS[current], email or phone
    return CHANNELS[DEFAULT_FOR_FIELD[field]], email or phone
