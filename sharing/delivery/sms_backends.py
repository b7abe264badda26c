"""SMS backends in the style of Django's email backends: pick one with SMS_BACKEND.

- "file" (default): one file per message in SMS_OUTBOX_DIR, named by its idempotency key, so a
  retried delivery rewrites the same file instead of sending a second message.
- "locmem": messages collect in `outbox` (tests).
- "twilio": Twilio's REST API through requests; credentials from the environment.
- or a dotted path to a class with `send(to, body, idempotency_key)`.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import requests
from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string


class SmsError(Exception):
    """A failed send. `permanent` says whether retrying can help."""

    def __init__(self, message: str, *, permanent: bool):
        super().__init__(message)
        self.permanent = permanent


@dataclass
class SmsMessage:
    to: str
    body: str
    idempotency_key: str


outbox: list[SmsMessage] = []


class LocmemSmsBackend:
    def send(self, to: str, body: str, idempotency_key: str) -> None:
        if any(m.idempotency_key == idempotency_key for m in outbox):
            return
        outbox.append(SmsMessage(to, body, idempotency_key))


class FileSmsBackend:
    def __init__(self, directory: str | Path | None = None):
        self.directory = Path(directory or settings.SMS_OUTBOX_DIR)

    def send(self, to: str, body: str, idempotency_key: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / f"{idempotency_key}.json"
        payload = {"to": to, "body": body, "at": timezone.now().isoformat()}
        fd, temp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(fd, "w") as out:
            json.dump(payload, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)


class TwilioSmsBackend:
    """Twilio Programmable Messaging. 4xx answers (bad number, blocked) are permanent; the rest retry."""

    path = "/2010-04-01/Accounts/{sid}/Messages.json"

    def __init__(self):
        self.sid = settings.TWILIO_ACCOUNT_SID
        self.token = settings.TWILIO_AUTH_TOKEN
        self.sender = settings.TWILIO_FROM_NUMBER
        if not (self.sid and self.token and self.sender):
            raise SmsError("Twilio is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER)", permanent=True)

    def send(self, to: str, body: str, idempotency_key: str) -> None:
        try:
            response = requests.post(
                settings.TWILIO_API_BASE.rstrip("/") + self.path.format(sid=self.sid), auth=(self.sid, self.token),
                data={"To": to, "From": self.sender, "Body": body},
                headers={"I-Twilio-Idempotency-Token": idempotency_key}, timeout=15,
            )
        except requests.RequestException:
            raise SmsError("the SMS provider (Twilio) could not be reached", permanent=False) from None
        if response.status_code in (429,) or response.status_code >= 500:
            raise SmsError(f"Twilio answered {response.status_code}", permanent=False)
        if response.status_code >= 400:
            code = ""
            try:
                code = str(response.json().get("code", ""))
            except ValueError:
                pass
            raise SmsError(f"Twilio refused the message ({response.status_code} {code})".strip(), permanent=True)


BACKENDS = {"file": FileSmsBackend, "locmem": LocmemSmsBackend, "twilio": TwilioSmsBackend}


def get_sms_backend():
    name = settings.SMS_BACKEND or "file"
    cls = BACKENDS.get(name) or import_string(name)
    return cls()
