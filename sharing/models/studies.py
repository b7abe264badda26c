from __future__ import annotations

import uuid

from django.db import models
from django.db.models.functions import Upper
from django.utils.translation import gettext_lazy as _

from .clinics import Clinic


def instance_upload_path(instance: "Instance", filename: str) -> str:
    # File names are random: the original name may carry the patient's name.
    return f"instances/{instance.clinic_id}/{uuid.uuid4().hex}.dcm"


def thumbnail_upload_path(instance: "Instance", filename: str) -> str:
    return f"thumbnails/{instance.clinic_id}/{uuid.uuid4().hex}.jpg"


def document_upload_path(document: "Document", filename: str) -> str:
    return f"documents/{document.study.clinic_id}/{uuid.uuid4().hex}{document.extension}"


class Study(models.Model):
    """One exam, with the patient and study attributes the staff list shows."""

    class Source(models.TextChoices):
        UPLOAD = "upload", _("Upload")
        API = "api", _("API")
        DICOMWEB = "dicomweb", _("DICOMweb")
        DICOM = "dicom", _("DICOM")

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="studies")
    study_instance_uid = models.CharField(max_length=64)
    patient_name = models.CharField(max_length=324, blank=True)
    patient_id = models.CharField(max_length=64, blank=True)
    patient_birth_date = models.DateField(null=True, blank=True)
    patient_sex = models.CharField(max_length=16, blank=True)
    study_date = models.DateField(null=True, blank=True)
    study_description = models.CharField(max_length=200, blank=True)
    accession_number = models.CharField(max_length=64, blank=True)
    modalities = models.CharField(max_length=64, blank=True)
    sonographers = models.CharField(max_length=324, blank=True)
    performing_physicians = models.CharField(max_length=324, blank=True)
    referring_physician = models.CharField(max_length=324, blank=True)
    institution = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    source_detail = models.CharField(max_length=64, blank=True, help_text=_("For DICOM, the sender's AE title."))
    anonymized = models.BooleanField(default=False)
    instance_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "studies"
        constraints = [
            models.UniqueConstraint(fields=["clinic", "study_instance_uid"], name="one_study_per_uid_per_clinic")
        ]
        indexes = [
            # The study list: a clinic's studies, newest first.
            models.Index(fields=["clinic", "-created_at", "-id"], name="study_list_newest"),
            # Search by name or ID: case-insensitive prefix matches.
            models.Index(Upper("patient_name"), "clinic", name="study_patient_name_upper"),
            models.Index(fields=["clinic", "patient_id"], name="study_patient_id"),
        ]

    def __str__(self) -> str:
        return f"Study {self.pk}"


class Series(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="series")
    series_instance_uid = models.CharField(max_length=64)
    modality = models.CharField(max_length=16, blank=True)
    series_number = models.IntegerField(null=True, blank=True)
    series_description = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name_plural = "series"
        constraints = [
            models.UniqueConstraint(fields=["study", "series_instance_uid"], name="one_series_per_uid_per_study")
        ]

    def __str__(self) -> str:
        return f"Series {self.pk}"


class Instance(models.Model):
    """One stored DICOM object; its file lives in Django storage under a random name."""

    # The order staff and patients see a study's instances in: by series, then instance number.
    PAGE_ORDER = ("series__series_number", "series_id", "instance_number", "id")

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="instances")
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="instances")
    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="instances")
    sop_instance_uid = models.CharField(max_length=64)
    sop_class_uid = models.CharField(max_length=64)
    transfer_syntax_uid = models.CharField(max_length=64)
    instance_number = models.IntegerField(null=True, blank=True)
    number_of_frames = models.PositiveIntegerField(default=1)
    rows = models.PositiveIntegerField(null=True, blank=True)
    columns = models.PositiveIntegerField(null=True, blank=True)
    file = models.FileField(upload_to=instance_upload_path, max_length=200)
    size = models.PositiveBigIntegerField()
    thumbnail = models.FileField(upload_to=thumbnail_upload_path, max_length=200, blank=True, editable=False)
    # None: not a strict-anonymized object; False: burned-in text could not be verified clean.
    pixels_verified = models.BooleanField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # Re-sending the same object is idempotent per clinic.
            models.UniqueConstraint(fields=["clinic", "sop_instance_uid"], name="one_instance_per_uid_per_clinic")
        ]
        indexes = [models.Index(fields=["study", "series", "instance_number", "id"], name="instance_in_study_order")]

    def __str__(self) -> str:
        return f"Instance {self.pk}"

    @property
    def is_multiframe(self) -> bool:
        return self.number_of_frames > 1


class Document(models.Model):
    """A non-DICOM file (PDF report, JPEG photo) attached to a study."""

    class Kind(models.TextChoices):
        PDF = "pdf", "PDF"
        JPEG = "jpeg", "JPEG"
        PNG = "png", "PNG"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="documents")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    file = models.FileField(upload_to=document_upload_path, max_length=200)
    size = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Document {self.pk}"

    @property
    def extension(self) -> str:
        return {"pdf": ".pdf", "jpeg": ".jpg", "png": ".png"}[self.kind]
