"""Patient contact details: validated, masked for staff, and encrypted until delivery.

The seed promise: contact details are "not shown, logged, nor saved". The portal keeps them only
as ciphertext on the share until the message is out, then erases them; staff see a mask.
"""

from __future__ import annotations

import base64
import json

import email_validator
import idna
import phonenumbers
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ValidationError


def normalize_email(value: str) -> str:
    """Return the address with its domain normalized, or raise ValidationError with the reason.

    email-validator applies RFC 5322/6531 and IDNA 2008: it refuses IP-literal domains
    ([192.0.2.1] and bare numbers), control and invisible characters, and domains that are not
    valid IDNA. Non-ASCII mailbox names are refused too: they need SMTPUTF8, which Django's mail
    framework does not speak. Deliverability (DNS) is not checked: no network at share time.
    """
    try:
        checked = email_validator.validate_email(
            (value or "").strip(), check_deliverability=False, allow_smtputf8=False,
            allow_domain_literal=False, allow_quoted_local=False,
        )
    except email_validator.EmailNotValidError as exc:
        raise ValidationError(f"Enter a valid email address. {exc}") from None
    return checked.normalized


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
    """j***@e***.org: enough for staff to recognise it, not enough to read it.

    A domain that is not plain ASCII is shown whole in its punycode form (j***@xn--exmple-4nf.org):
    a look-alike letter (Cyrillic а for Latin a) is then visible instead of hidden by the mask.
    """
    local, _, domain = email.rpartition("@")
    if not domain.isascii():
        shown = f"{local[:1]}***@{idna.encode(domain).decode('ascii')}"
        # Share.contact_masked holds 64 characters: keep both ends of a long domain.
        return shown if len(shown) <= 64 else f"{shown[:31]}…{shown[-32:]}"
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
