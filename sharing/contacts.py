"""Patient contact details: validated, masked for staff, and encrypted until delivery.

The seed promise: contact details are "not shown, logged, nor saved". The portal keeps them only
as ciphertext on the share until the message is out, then erases them; staff see a mask.
"""

from __future__ import annotations

import base64
import json

import phonenumbers
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email


def normalize_email(value: str) -> str:
    email = (value or "").strip()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError("Enter a valid email address.") from None
    local, _, domain = email.rpartition("@")
    return f"{local}@{domain.lower()}"


def normalize_phone(value: str, region: str) -> str:
    """Return the number in E.164, reading national numbers with the clinic's country code."""
    try:
        number = phonenumbers.parse((value or "").strip(), (region or "US").upper())
    except phonenumbers.NumberParseException:
        raise ValidationError("Enter a valid mobile number.") from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError("Enter a valid mobile number.")
    if phonenumbers.number_type(number) not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise ValidationError("This number cannot receive text messages; enter a mobile number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask_email(email: str) -> str:
    """j***@e***.org: enough for staff to recognise it, not enough to read it."""
    local, _, domain = email.rpartition("@")
    host, _, tld = domain.rpartition(".")
    return f"{local[:1]}***@{host[:1]}***.{tld}"


def mask_phone(e164: str) -> str:
    """+1 ••• ••• 0123."""
    number = phonenumbers.parse(e164)
    return f"+{number.country_code} ••• ••• {e164[-4:]}"


def _fernet() -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"portal share delivery secret").derive(
        settings.SECRET_KEY.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def seal(contact: str, token: str) -> bytes:
    return _fernet().encrypt(json.dumps({"contact": contact, "token": token}).encode())


def unseal(secret: bytes | memoryview | None) -> tuple[str, str] | None:
    if not secret:
        return None
    try:
        data = json.loads(_fernet().decrypt(bytes(secret)))
    except (InvalidToken, ValueError):
        return None
    return data["contact"], data["token"]
