"""Email backends of our own. The embedded default writes one .eml file per message, which any
mail client opens, and which tests read as the outbox."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone


IDEMPOTENCY_HEADER = "X-Portal-Message-Key"


class EmlFileBackend(BaseEmailBackend):
    """Write each message to EMAIL_FILE_PATH as `<UTC time>-<random>.eml`, atomically."""

    def __init__(self, file_path: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.directory = Path(file_path or settings.EMAIL_FILE_PATH)

    def send_messages(self, email_messages) -> int:
        self.directory.mkdir(parents=True, exist_ok=True)
        sent = 0
        for message in email_messages:
            # A message that carries an idempotency key keeps one file however often it is sent.
            key = message.extra_headers.get(IDEMPOTENCY_HEADER, "")
            safe_key = "".join(c for c in key if c.isalnum() or c == "-")[:80]
            name = f"{safe_key}.eml" if safe_key else f"{timezone.now():%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:12]}.eml"
            fd, temp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            with os.fdopen(fd, "wb") as out:
                out.write(message.message().as_bytes(linesep="\r\n"))
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, self.directory / name)
            sent += 1
        return sent
