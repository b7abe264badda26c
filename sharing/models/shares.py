from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..delivery.channels import channel_choices
from ..previews.formats import PreviewFormat, preview_format
from .clinics import Clinic
from .studies import Instance, Study


def share_asset_path(item: "ShareItem", filename: str) -> str:
    # Random folder and neutral names: nothing in a path identifies the patient.
    return f"shares/{item.share.public_id.hex}/{uuid.uuid4().hex}{filename[filename.rfind('.'):]}"


class Share(models.Model):
    """One exam shared with one patient through one delivery channel and one personal link."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        PROCESSING = "processing", _("Processing")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="shares")
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="shares")
    instances = models.ManyToManyField(Instance, related_name="shares", help_text=_("The selected images and clips."))
    include_documents = models.BooleanField(default=True)
    # Chosen from the registry of delivery channels (email, SMS, WhatsApp ...); a callable, so a new
    # channel is one entry there and needs no migration.
    channel = models.CharField(max_length=8, choices=channel_choices)
    # The contact and the link token, encrypted, held only until delivery and then erased.
    delivery_secret = models.BinaryField(null=True, blank=True, editable=False)
    contact_masked = models.CharField(max_length=64)
    passcode_hash = models.CharField(max_length=200, blank=True, editable=False)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True)
    error = models.CharField(max_length=500, blank=True)
    step = models.CharField(max_length=32, blank=True, help_text=_("What the pipeline is doing now."))
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    # Each resend is a new generation: tasks carry it, and a stale task does nothing.
    generation = models.PositiveIntegerField(default=1)
    delivered_generation = models.PositiveIntegerField(default=0)
    delivered_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    # One pipeline run at a time: a run holds the lease and renews it as it makes progress; a run
    # that finds it held exits. A killed worker's lease simply runs out.
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=32, blank=True)
    # How often the sweep found this share stuck; past SHARE_MAX_SWEEPS it is failed, visibly.
    sweep_count = models.PositiveIntegerField(default=0)
    opened_at = models.DateTimeField(null=True, blank=True)
    downloaded_at = models.DateTimeField(null=True, blank=True)
    failed_passcode_attempts = models.PositiveIntegerField(default=0)
    passcode_locked_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["study", "-created_at"], name="share_history"),
            models.Index(fields=["status", "updated_at"], name="share_sweep"),
        ]

    def __str__(self) -> str:
        return f"Share {self.pk}"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return timezone.now() >= self.expires_at

    @property
    def is_live(self) -> bool:
        return not self.is_revoked and not self.is_expired

    @property
    def needs_passcode(self) -> bool:
        return bool(self.passcode_hash or self.clinic.link_passcode_hash)

    def set_passcode(self, passcode: str) -> None:
        self.passcode_hash = make_password(passcode) if passcode else ""

    def check_passcode(self, passcode: str) -> bool:
        if self.passcode_hash:
            return check_password(passcode, self.passcode_hash)
        return self.clinic.check_link_passcode(passcode)


class ShareToken(models.Model):
    """A link token's SHA-256 (never the token). Resend retires the old one: it then answers 410
    "this link has ended" rather than 404, so a patient with an old message knows what happened."""

    share = models.ForeignKey(Share, on_delete=models.CASCADE, related_name="tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"ShareToken {self.pk}"


class PasscodeAttempts(models.Model):
    """Passcode guesses at one link from one client address (sharing/shares/lockout.py).

    The address is kept only as a keyed hash; the row goes when the right passcode is entered."""

    share = models.ForeignKey(Share, on_delete=models.CASCADE, related_name="passcode_attempts")
    client = models.CharField(max_length=64)
    failures = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["share", "client"], name="one_passcode_counter_per_client")]

    def __str__(self) -> str:
        return f"PasscodeAttempts {self.pk}"


class ShareItem(models.Model):
    """A published asset of a share: a still or a clip rendered from the anonymized instance."""

    class Kind(models.TextChoices):
        IMAGE = "image", _("Image")
        CLIP = "clip", _("Clip")
        DOCUMENT = "document", _("Document")

    share = models.ForeignKey(Share, on_delete=models.CASCADE, related_name="items")
    instance = models.ForeignKey(Instance, null=True, blank=True, on_delete=models.SET_NULL)
    document = models.ForeignKey("sharing.Document", null=True, blank=True, on_delete=models.SET_NULL)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    position = models.PositiveIntegerField(default=0)
    media = models.FileField(upload_to=share_asset_path, max_length=200)
    thumbnail = models.FileField(upload_to=share_asset_path, max_length=200, blank=True)
    poster = models.FileField(upload_to=share_asset_path, max_length=200, blank=True)
    width = models.PositiveIntegerField(null=True)
    height = models.PositiveIntegerField(null=True)
    frames = models.PositiveIntegerField(default=1)
    size = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["share", "instance"], name="one_item_per_instance_per_share"),
            models.UniqueConstraint(fields=["share", "document"], name="one_item_per_document_per_share"),
        ]

    def __str__(self) -> str:
        return f"ShareItem {self.pk}"

    @property
    def format(self) -> PreviewFormat:
        """What this kind is published as (sharing/previews/formats.py)."""
        return preview_format(self.kind)

    @property
    def content_type(self) -> str:
        return self.format.media.content_type

    @property
    def download_name(self) -> str:
        """A friendly name with no identifier: ultrasound-image-3.jpg, ultrasound-clip-2.mp4."""
        return self.format.download_name(self.position)


class ShareExclusion(models.Model):
    """An instance left out of a share, and why; staff may review and accept it."""

    share = models.ForeignKey(Share, on_delete=models.CASCADE, related_name="exclusions")
    instance = models.ForeignKey(Instance, null=True, blank=True, on_delete=models.CASCADE)
    document = models.ForeignKey("sharing.Document", null=True, blank=True, on_delete=models.CASCADE)
    reason = models.CharField(max_length=300)
    acceptable = models.BooleanField(default=False, help_text=_("Staff may accept it after looking at it."))
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    accepted_at = models.DateTimeField(null=True, blank=True)
    # Staff review of unverified pixels: the anonymized rendering with the text boxes still
    # detected outlined and numbered, those boxes, and the ones staff asked to black out.
    review_image = models.FileField(upload_to="reviews/", blank=True)
    review_boxes = models.JSONField(default=list, blank=True)
    blackout_boxes = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["share", "instance"], name="one_exclusion_per_instance_per_share"),
        ]


class ShareEvent(models.Model):
    """The audit trail of a share, with time. Details never hold the contact or the token."""

    class Kind(models.TextChoices):
        CREATED = "created", _("Created")
        PROCESSED = "processed", _("Processed")
        DELIVERED = "delivered", _("Delivered")
        OPENED = "opened", _("Opened")
        DOWNLOADED = "downloaded", _("Downloaded")
        REVOKED = "revoked", _("Revoked")
        RESENT = "resent", _("Resent")
        FAILED = "failed", _("Failed")
        ACCEPTED = "accepted", _("Exclusion accepted")

    share = models.ForeignKey(Share, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    at = models.DateTimeField(default=timezone.now)
    detail = models.CharField(max_length=300, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["share", "kind"], name="share_event_kind")]
