"""Email backends that fail the way real SMTP servers do, for the retry and failure tests."""

import smtplib

from django.core.mail.backends.base import BaseEmailBackend


class RefusingBackend(BaseEmailBackend):
    def send_messages(self, messages):
        raise smtplib.SMTPRecipientsRefused({messages[0].to[0]: (550, b"no such user")})


class FlakyBackend(BaseEmailBackend):
    failures_left = 0
    attempts = 0
    sent: list = []

    def send_messages(self, messages):
        FlakyBackend.attempts += 1
        if FlakyBackend.failures_left > 0:
            FlakyBackend.failures_left -= 1
            raise smtplib.SMTPServerDisconnected("connection lost")
        FlakyBackend.sent.extend(messages)
        return len(messages)


class GreylistingBackend(BaseEmailBackend):
    """Refuses the recipient with a 4xx once (greylisting), then accepts."""

    refusals_left = 0
    sent: list = []

    def send_messages(self, messages):
        if GreylistingBackend.refusals_left > 0:
            GreylistingBackend.refusals_left -= 1
            raise smtplib.SMTPRecipientsRefused({messages[0].to[0]: (450, b"4.2.0 greylisted, try later")})
        GreylistingBackend.sent.extend(messages)
        return len(messages)
