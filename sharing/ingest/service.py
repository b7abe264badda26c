"""The one ingest function every door calls, and the storage step behind it.

An object is durable before we answer success: its file is written and fsynced, then its rows are
committed. If anything fails on the way, the stored file is removed, so nothing half-stored stays.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F

from anonymizer.defects import defect_sentence, report_defect

from ..models import Clinic, Document, Instance, Series, Study
from .errors import IngestDefect, RejectedFile
from .sources import Candidate, candidates_from_uploads, cleanup, temp_dir
from .validation import DicomSummary, sniff_document, validate_dicom

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    """What happened to each file of one request: the sender sees it as the response."""

    studies: list[Study] = field(default_factory=list)
    accepted: int = 0
    duplicates: int = 0
    discarded: list[dict] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    instances: list[Instance] = field(default_factory=list)
    documents: list[tuple[str, Path, str]] = field(default_factory=list)

    def add_study(self, study: Study) -> None:
        if all(s.pk != study.pk for s in self.studies):
            self.studies.append(study)


def ingest_uploads(clinic: Clinic, files: Iterable, *, source: str, source_detail: str = "") -> IngestReport:
    """Ingest Django UploadedFile objects (web upload and REST API); ZIPs are expanded safely."""
    return ingest_candidates(clinic, candidates_from_uploads(files), source=source, source_detail=source_detail)


def ingest_candidates(clinic: Clinic, candidates: Iterable[Candidate], *, source: str, source_detail: str = "") -> IngestReport:
    report = IngestReport()
    try:
        ingest_each(clinic, candidates, report, source=source, source_detail=source_detail)
    finally:
        # PDFs kept back to attach at the end: removed whatever happened to the batch.
        for _, path, _ in report.documents:
            path.unlink(missing_ok=True)
    refresh_studies(report)
    log.info(
        "ingest clinic=%s source=%s accepted=%d duplicates=%d rejected=%d discarded=%d",
        clinic.pk, source, report.accepted, report.duplicates, len(report.rejected), len(report.discarded),
    )
    return report


def ingest_each(clinic: Clinic, candidates: Iterable[Candidate], report: IngestReport, *, source: str, source_detail: str) -> None:
    with cleanup(candidates) as tracked:
        for candidate in tracked:
            if candidate.error:
                report.rejected.append({"file": candidate.label, "reason": candidate.error})
                continue
            if candidate.path.stat().st_size == 0:
                report.rejected.append({"file": candidate.label, "reason": "file is empty"})
                continue
            kind = sniff_document(candidate.path)
            if kind:
                handle_document(clinic, candidate, kind, report)
                continue
            try:
                instance, created = ingest_dicom_file(clinic, candidate.path, source=source, source_detail=source_detail)
            except RejectedFile as exc:
                report.rejected.append({"file": candidate.label, "reason": str(exc)})
                continue
            except IngestDefect as exc:
                report.rejected.append({"file": candidate.label, "reason": str(exc), "reference": exc.reference})
                continue
            except DatabaseError:
                raise  # the database is down or the transaction is broken: the request fails as a whole
            except Exception as exc:  # a defect of ours costs this file, not the batch
                reference = report_defect(exc, where="ingesting a file", logger=log)
                report.rejected.append({"file": candidate.label, "reason": defect_sentence(reference), "reference": reference})
                continue
            if instance is None:
                report.discarded.append({"file": candidate.label, "reason": str(created)})
                continue
            report.add_study(instance.study)
            report.instances.append(instance)
            if created:
                report.accepted += 1
            else:
                report.duplicates += 1
                report.accepted += 1
        attach_documents(clinic, report)


def refresh_studies(report: IngestReport) -> None:
    """Re-read the batch's studies: their counts and modalities were updated in the database
    (F expressions) after the rows the report holds were loaded."""
    fresh = Study.objects.in_bulk([study.pk for study in report.studies])
    report.studies = [fresh[study.pk] for study in report.studies if study.pk in fresh]


def handle_document(clinic: Clinic, candidate: Candidate, kind: str, report: IngestReport) -> None:
    if clinic.is_strict:
        # Strict clinics store no PHI, and a PDF or photo cannot be verified free of it.
        report.discarded.append({"file": candidate.label, "reason": "non-DICOM content is discarded by a strict clinic"})
        return
    # Keep the temp copy until the whole batch is in, to learn which study it belongs to.
    keep = Path(tempfile.mkstemp(dir=temp_dir(), suffix=".doc")[1])
    os.replace(candidate.path, keep)
    candidate.path = None
    report.documents.append((candidate.label, keep, kind))


def attach_documents(clinic: Clinic, report: IngestReport) -> None:
    """Attach the batch's PDFs and images to its study; they need exactly one to belong to."""
    for label, path, kind in report.documents:
        try:
            if len(report.studies) != 1:
                report.rejected.append(
                    {"file": label, "reason": "a non-DICOM document must be uploaded together with the files of exactly one study"}
                )
                continue
            study = report.studies[0]
            document = Document(study=study, kind=kind, size=path.stat().st_size)
            with open(path, "rb") as fh:
                document.file.save("document", File(fh), save=False)
            try:
                document.save()
            except Exception:
                document.file.delete(save=False)
                raise
            report.accepted += 1
        finally:
            path.unlink(missing_ok=True)
    report.documents.clear()


def ingest_dicom_file(clinic: Clinic, path: Path, *, source: str, source_detail: str = ""):
    """Validate, optionally anonymize, and store one DICOM file.

    Returns (instance, created). For a strict clinic an object the strict profile discards
    (SR, PDF, key objects...) returns (None, reason). Raises RejectedFile for bad input.
    """
    summary = validate_dicom(path)
    if not clinic.is_strict:
        return store_instance(clinic, summary, path, source=source, source_detail=source_detail, pixels_verified=None)

    from ..anonymization import anonymize_strict

    fd, anonymized_name = tempfile.mkstemp(dir=temp_dir(), suffix=".anon")
    os.close(fd)
    anonymized = Path(anonymized_name)
    try:
        result = anonymize_strict(path, anonymized, clinic_id=clinic.pk, accept_unverified=True)
        if result.status == "discarded":
            return None, result.reason
        if result.status == "failed":
            raise IngestDefect(result.reason, result.reference)
        if result.status != "written":
            raise RejectedFile(f"could not be anonymized: {result.reason}")
        anonymized_summary = validate_dicom(anonymized)
        return store_instance(
            clinic, anonymized_summary, anonymized, source=source, source_detail=source_detail,
            pixels_verified=bool(result.pixels_verified), anonymized=True,
        )
    finally:
        anonymized.unlink(missing_ok=True)


def fsync_stored(name: str) -> None:
    """Make a stored file durable before we report success (local storage only; S3 is durable on PUT)."""
    try:
        local = default_storage.path(name)
    except NotImplementedError:
        return
    fd = os.open(local, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def store_instance(
    clinic: Clinic, summary: DicomSummary, path: Path, *, source: str, source_detail: str,
    pixels_verified: bool | None, anonymized: bool = False,
):
    existing = Instance.objects.filter(clinic=clinic, sop_instance_uid=summary.sop_instance_uid).select_related("study").first()
    if existing is not None:
        return existing, False

    instance = Instance(
        clinic=clinic,
        sop_instance_uid=summary.sop_instance_uid,
        sop_class_uid=summary.sop_class_uid,
        transfer_syntax_uid=summary.transfer_syntax_uid,
        instance_number=summary.instance_number,
        number_of_frames=summary.number_of_frames,
        rows=summary.rows,
        columns=summary.columns,
        size=path.stat().st_size,
        pixels_verified=pixels_verified,
    )
    with open(path, "rb") as fh:
        instance.file.save("instance.dcm", File(fh), save=False)
    try:
        fsync_stored(instance.file.name)
        with transaction.atomic():
            study, _ = Study.objects.get_or_create(
                clinic=clinic,
                study_instance_uid=summary.study_instance_uid,
                defaults={**summary.study, "source": source, "source_detail": source_detail[:64], "anonymized": anonymized},
            )
            series, series_created = Series.objects.get_or_create(
                study=study,
                series_instance_uid=summary.series_instance_uid,
                defaults={
                    "modality": summary.modality,
                    "series_number": summary.series_number,
                    "series_description": summary.series_description,
                },
            )
            instance.study = study
            instance.series = series
            instance.save()
            updates = {"instance_count": F("instance_count") + 1}
            modalities = set(filter(None, study.modalities.split("\\")))
            if summary.modality and summary.modality not in modalities:
                updates["modalities"] = "\\".join(sorted(modalities | {summary.modality}))[:64]
            Study.objects.filter(pk=study.pk).update(**updates)
    except IntegrityError:
        # Another sender stored the same SOP Instance UID between our check and our insert.
        instance.file.delete(save=False)
        existing = Instance.objects.filter(clinic=clinic, sop_instance_uid=summary.sop_instance_uid).select_related("study").first()
        if existing is None:
            raise
        return existing, False
    except BaseException:
        instance.file.delete(save=False)
        raise
    return instance, True
