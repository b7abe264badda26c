"""Text messages (SMS) through a text backend picked by SMS_BACKEND (file outbox, locmem, Twilio)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from .text import TextChannel


class SmsChannel(TextChannel):
    name = "sms"
    label = _("SMS")
    templates = {"body": "sharing/sms/share.txt"}
    backend_setting = "SMS_BACKEND"
