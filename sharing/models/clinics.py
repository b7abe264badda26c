from __future__ import annotations

import ipaddress

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


class Clinic(models.Model):
    """A tenant: a clinic whose staff, devices and exams are isolated from every other clinic."""

    class Mode(models.TextChoices):
        STANDARD = "standard", _("Standard: store exams as received")
        STRICT = "strict", _("Strict: anonymize on arrival, no PHI stored")

    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.STANDARD)
    link_lifetime_days = models.PositiveIntegerField(
        default=90, help_text=_("How long a patient link stays valid unless a share sets its own expiry.")
    )
    # Only the hash is kept; staff tell patients the passcode, the portal never needs it back.
    link_passcode_hash = models.CharField(max_length=200, blank=True)
    logo = models.ImageField(upload_to="branding/", blank=True)
    message = models.TextField(blank=True, help_text=_("Shown to patients on their page and in the email."))
    sms_region = models.CharField(
        max_length=2, default="US", help_text=_("ISO country code used to read phone numbers without a + prefix.")
    )
    language = models.CharField(max_length=8, choices=settings.LANGUAGES, default="en")
    # Devices whose AE title is not registered are routed here only when this is set;
    # the demo clinic sets it so any modality can send to a fresh install.
    accept_unknown_devices = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_strict(self) -> bool:
        return self.mode == self.Mode.STRICT

    def set_link_passcode(self, passcode: str) -> None:
        self.link_passcode_hash = make_password(passcode) if passcode else ""

    def check_link_passcode(self, passcode: str) -> bool:
        return bool(self.link_passcode_hash) and check_password(passcode, self.link_passcode_hash)


class Membership(models.Model):
    """A staff user's membership of a clinic; a user may belong to several."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="memberships")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "clinic"], name="one_membership_per_clinic")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.clinic}"


def validate_network(value: str) -> None:
    """A CIDR network (IPv4 or IPv6); host bits may be set, as staff often type a device's address."""
    try:
        ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise ValidationError("Enter a network such as 10.1.2.0/24, or one address such as 10.1.2.7/32.") from None


class DicomDevice(models.Model):
    """A modality or PACS allowed to C-STORE into a clinic, known by its calling AE title."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="devices")
    ae_title = models.CharField(max_length=16, unique=True)
    description = models.CharField(max_length=200, blank=True)
    # The calling AE title is not authentication (any sender can claim any title): a network here
    # limits where this device may send from, e.g. 10.1.2.0/24 or 10.1.2.7/32.
    allowed_network = models.CharField(
        "allowed source network", max_length=64, blank=True, validators=[validate_network],
        help_text="Optional. Addresses this device sends from, in CIDR notation (10.1.2.0/24, 10.1.2.7/32). "
        "Stores from any other address are refused.",
    )

    def __str__(self) -> str:
        return self.ae_title
