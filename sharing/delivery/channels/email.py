"""Email through Django's mail framework: the `.eml` outbox by default, SMTP or a provider with
EMAIL_URL, locmem in tests."""

from __future__ import annotations

import smtplib
import socket

from django.core.mail import EmailMultiAlternatives
from django.utils.translation import gettext_lazy as _

from ... import contacts
from ..email_backends import IDEMPOTENCY_HEADER
from .base import Channel, PermanentDeliveryError, TransientDeliveryError


class EmailChannel(Channel):
    name = "email"
    label = _("Email")
    contact_field = "email"
    templates = {
        "subject": "sharing/email/share_subject.txt",
        "body": "sharing/email/share.txt",
        "html": "sharing/email/share.html",
    }
    missing_contact_message = _("Enter the patient's email address (and no mobile number) to send by email.")

    def normalize(self, value, clinic):
        return contacts.normalize_email(value)

    def mask(self, contact):
        return contacts.mask_email(contact)

    def send(self, share, contact, link, key):
        context = self.context(share, link)
        message = EmailMultiAlternatives(self.render("subject", context).strip(), self.render("body", context),
                                         to=[contact], headers={IDEMPOTENCY_HEADER: key})
        message.attach_alternative(self.render("html", context), "text/html")
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
