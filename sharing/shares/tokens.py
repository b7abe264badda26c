"""Patient link tokens: 256 random bits from `secrets`; only their SHA-256 is stored."""

import hashlib
import secrets

from django.conf import settings


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def patient_link(token: str) -> str:
    return f"{settings.PUBLIC_URL}/p/{token}"
