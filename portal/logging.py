"""Keep secrets and contact details out of every log line.

A patient link is a bearer credential: whoever reads `/p/<token>` in a log can open the exam.
Django's request logger ("Not Found: /p/…"), gunicorn's access log and any exception message
may carry such a path. `RedactingFilter` sits on every handler in settings.LOGGING and rewrites
each record's final text; `RedactingGunicornLogger` does the same for gunicorn's access and error
logs (`run_portal` passes it as `--logger-class`).

What is redacted:
- patient link tokens: `/p/<token>` and anything after it becomes `/p/[redacted]`;
- API tokens in `Authorization: Token …` / `Bearer …` and `token=` / `passcode=` query parameters;
- email addresses and E.164 phone numbers (a patient's contact is PHI until it is erased).

Patient names and IDs cannot be recognised by pattern; the rule for them is that code never logs
them (tasks take ids, services log ids), which tests/security/test_logs.py checks end to end.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"

# The link path: the token and everything after it (asset ids and variants tie requests together).
LINK_PATH = re.compile(r"/p/[^\s\"'?#]+")
# DRF tokens are 40 hex digits; 20+ keeps ordinary words after "token" readable.
CREDENTIAL = re.compile(r"(?i)\b(token|bearer)(\s+)[A-Za-z0-9_\-.]{20,}")
SECRET_PARAMETER = re.compile(r"(?i)\b(token|passcode|password|key|secret)=[^&\s\"']+")
EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
PHONE = re.compile(r"(?<![\w+])\+[1-9]\d{6,14}\b")


def redact(text: str) -> str:
    """Return `text` with link tokens, credentials, emails and phone numbers replaced."""
    text = LINK_PATH.sub(f"/p/{REDACTED}", text)
    text = CREDENTIAL.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = SECRET_PARAMETER.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    text = EMAIL.sub(REDACTED, text)
    return PHONE.sub(REDACTED, text)


class RedactingFilter(logging.Filter):
    """Rewrite a record's message (with its arguments merged in) and traceback, redacted.

    The arguments are merged first because the secret usually arrives as one of them
    (`logger.warning("Not Found: %s", path)`); the record then carries no args, so every later
    handler and formatter sees only the redacted text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep what we can, never drop the record
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
            # The formatted text replaces the live traceback: frames hold locals such as the token.
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        # django.request attaches the request; a formatter or mail handler could print its path.
        if hasattr(record, "request"):
            record.request = None
        return True


try:
    from gunicorn.glogging import Logger as _GunicornLogger
except ImportError:  # gunicorn is a production dependency, but keep this module importable
    _GunicornLogger = object


class RedactingGunicornLogger(_GunicornLogger):
    """gunicorn's logger with every access-log atom and error-log record redacted.

    The access log format names the path (`%(U)s`), the request line (`%(r)s`), the query
    (`%(q)s`) and headers such as the Referer (`%({referer}i)s`); each is redacted before
    formatting, so no format string can let a token through.
    """

    def setup(self, cfg):
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            logger.addFilter(RedactingFilter())
            for handler in logger.handlers:
                handler.addFilter(RedactingFilter())

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()}
