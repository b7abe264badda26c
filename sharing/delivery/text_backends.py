"""Backends for text-message channels (SMS, WhatsApp), in the style of Django's email backends.
A channel picks one by the short name in its setting (SMS_BACKEND, WHATSAPP_BACKEND):

- "file" (default): one file per message in the channel's outbox folder, named by its
  idempotency key, so a retried delivery rewrites the same file instead of sending a second message.
- "locmem": messages collect in `outbox` (tests).
- "twilio": Twilio's Messages API through requests; credentials from the environment.
- or a dotted path to a class built with the channel's name and having `send(message)`.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import requests
from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string


class TextSendError(Exception):
    """A failed send. `permanent` says whether retrying can help."""

    def __init__(self, message: str, *, permanent: bool):
        super().__init__(message)
        self.permanent = permanent


@dataclass
class TextMessage:
    """One message to one number; `idempotency_key` is the same for every retry of one delivery."""

    channel: str
    to: str
    body: str
    idempotency_key: str
    # Provider template variables (WhatsApp's pre-approved templates); the body stays the fallback.
    variables: dict = field(default_factory=dict)


outbox: list[TextMessage] = []


class TextBackend:
    """The interface: built with the channel's name, `send` raises TextSendError on failure."""

    def __init__(self, channel: str):
        self.channel = channel

    def send(self, message: TextMessage) -> None:
        raise NotImplementedError


class LocmemTextBackend(TextBackend):
    def send(self, message: TextMessage) -> None:
        if any(m.idempotency_key == message.idempotency_key and m.channel == message.channel for m in outbox):
            return
        outbox.append(message)


class FileTextBackend(TextBackend):
    """Writes <CHANNEL>_OUTBOX_DIR/<key>.json (DATA_DIR/outbox/<channel>/ by default) atomically."""

    def __init__(self, channel: str, directory: str | Path | None = None):
        super().__init__(channel)
        default = getattr(settings, f"{channel.upper()}_OUTBOX_DIR", settings.DATA_DIR / "outbox" / channel)
        self.directory = Path(directory or default)

    def send(self, message: TextMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / f"{message.idempotency_key}.json"
        payload = {"channel": message.channel, "to": message.to, "body": message.body, "at": timezone.now().isoformat()}
        fd, temp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(fd, "w") as out:
            json.dump(payload, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)


class TwilioBackend(TextBackend):
    """Twilio's Messages API, for SMS and for WhatsApp (addresses prefixed ``whatsapp:``).

    4xx answers (a bad number, a blocked recipient, WhatsApp's 24-hour window) are permanent;
    429, 5xx and network errors are retried.
    """

    path = "/2010-04-01/Accounts/{sid}/Messages.json"
    # Per channel: the sender setting, the address prefix, the optional Content API template,
    # and what staff read the provider as.
    SENDERS = {
        "sms": ("TWILIO_FROM_NUMBER", "", "", "SMS"),
        "whatsapp": ("TWILIO_WHATSAPP_FROM", "whatsapp:", "TWILIO_WHATSAPP_CONTENT_SID", "WhatsApp"),
    }

    def __init__(self, channel: str):
        super().__init__(channel)
        sender_setting, self.prefix, template_setting, self.label = self.SENDERS[channel]
        self.sid = settings.TWILIO_ACCOUNT_SID
        self.token = settings.TWILIO_AUTH_TOKEN
        self.sender = getattr(settings, sender_setting, "")
        self.content_sid = getattr(settings, template_setting, "") if template_setting else ""
        if not (self.sid and self.token and self.sender):
            raise TextSendError(f"Twilio is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, {sender_setting})",
                                permanent=True)

    def form(self, message: TextMessage) -> dict:
        data = {"To": self.prefix + message.to, "From": self.prefix + self.sender.removeprefix(self.prefix)}
        if self.content_sid and message.variables:
            # Business-initiated WhatsApp messages must use a template approved by Meta.
            data.update(ContentSid=self.content_sid, ContentVariables=json.dumps(message.variables))
        else:
            data["Body"] = message.body
        return data

    def send(self, message: TextMessage) -> None:
        try:
            response = requests.post(
                settings.TWILIO_API_BASE.rstrip("/") + self.path.format(sid=self.sid), auth=(self.sid, self.token),
                data=self.form(message), headers={"I-Twilio-Idempotency-Token": message.idempotency_key}, timeout=15,
            )
        except requests.RequestException:
            raise TextSendError(f"the {self.label} provider (Twilio) could not be reached", permanent=False) from None
        if response.status_code in (429,) or response.status_code >= 500:
            raise TextSendError(f"Twilio answered {response.status_code}", permanent=False)
        if response.status_code >= 400:
            code = ""
            try:
                code = str(response.json().get("code", ""))
            except ValueError:
                pass
            raise TextSendError(f"Twilio refused the message ({response.status_code} {code})".strip(), permanent=True)


BACKENDS = {"file": FileTextBackend, "locmem": LocmemTextBackend, "twilio": TwilioBackend}


def text_backend(channel: str, name: str) -> TextBackend:
    """The backend called `name` (a short name or a dotted path) for `channel`."""
    cls = BACKENDS.get(name or "file") or import_string(name)
    return cls(channel)
