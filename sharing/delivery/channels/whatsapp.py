"""WhatsApp through Twilio's WhatsApp API (the same Messages API as SMS, addresses prefixed
``whatsapp:``), picked by WHATSAPP_BACKEND: a file outbox in DATA_DIR/outbox/whatsapp/ by default.

A clinic's first message to a patient is business-initiated, which WhatsApp accepts only as a
template approved by Meta: set TWILIO_WHATSAPP_CONTENT_SID to that template, whose variables are
{{1}} the clinic's name and {{2}} the link. Without it the plain body is sent, which WhatsApp
delivers only inside a 24-hour conversation window (or the Twilio sandbox); outside it Twilio
refuses the message, and the share fails with that reason.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from .text import TextChannel


class WhatsAppChannel(TextChannel):
    name = "whatsapp"
    label = _("WhatsApp")
    templates = {"body": "sharing/whatsapp/share.txt"}
    backend_setting = "WHATSAPP_BACKEND"
    missing_contact_message = _("Enter the patient's WhatsApp mobile number (and no email address).")

    def message(self, share, contact, link, key):
        message = super().message(share, contact, link, key)
        message.variables = {"1": share.clinic.name, "2": link}
        return message
