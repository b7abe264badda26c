"""Channels that send one short text to a mobile number through a text backend."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from ... import contacts
from ..text_backends import TextMessage, TextSendError, text_backend
from .base import Channel, PermanentDeliveryError, TransientDeliveryError


class TextChannel(Channel):
    """A channel that sends one short text to a mobile number through a text backend."""

    contact_field = "phone"
    backend_setting = ""
    missing_contact_message = _("Enter the patient's mobile number (and no email address).")

    def normalize(self, value, clinic):
        return contacts.normalize_phone(value, clinic.sms_region)

    def mask(self, contact):
        return contacts.mask_phone(contact)

    def message(self, share, contact, link, key) -> TextMessage:
        return TextMessage(self.name, contact, self.render("body", self.context(share, link)).strip(), key)

    def send(self, share, contact, link, key):
        try:
            backend = text_backend(self.name, getattr(settings, self.backend_setting))
            backend.send(self.message(share, contact, link, key))
        except TextSendError as exc:
            if exc.permanent:
                raise PermanentDeliveryError(str(exc)) from None
            raise TransientDeliveryError(str(exc)) from None
