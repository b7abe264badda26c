"""Prepare a share: anonymize the selected instances (strict profile, the clinic's key), render
previews from the anonymized pixels in parallel, and publish them as share items.

Every step is idempotent. An instance that already has an item or an exclusion is skipped, so a
task that runs twice, or again after its worker was killed, finishes the work instead of redoing it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from ..anonymization import anonymize_strict
from ..models import Instance, Share, ShareEvent, ShareExclusion, ShareItem

log = logging.getLogger(__name__)

UNVERIFIED_REASON = "burned-in text in the pixels could not be verified clean; review it and accept it to include it"
DOCUMENT_NEEDS_PASSCODE = "documents are shared only behind a passcode; set one for the link to include them"


def render_concurrency() -> int:
    return max(1, int(os.environ.get("RENDER_CONCURRENCY", 0)) or os.cpu_count() or 1)


def lease_expiry():
    return timezone.now() + dt.timedelta(seconds=settings.SHARE_LEASE_SECONDS)


def acquire_lease(share: Share) -> bool:
    """Take the share's lease if nobody holds it; atomic, so two runs never both win."""
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    return Share.objects.filter(free, pk=share.pk).update(lease_until=lease_expiry(), updated_at=now) == 1


def release_lease(share: Share) -> None:
    Share.objects.filter(pk=share.pk).update(lease_until=None)


def set_step(share: Share, step: str, **fields) -> None:
    """Record progress; it also renews the lease and tells the sweep the share is alive."""
    Share.objects.filter(pk=share.pk).update(step=step, updated_at=timezone.now(), lease_until=lease_expiry(), **fields)


def work_folder(share: Share) -> Path:
    """The run's scratch folder, named by the share: a rerun after a killed worker clears what
    the dead run left, instead of leaking it."""
    folder = Path(settings.FILE_UPLOAD_TEMP_DIR) / f"share-{share.public_id.hex}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def local_copy(instance: Instance, directory: Path) -> Path:
    """Copy the stored file to local disk: storage may be S3, and the anonymizer needs a path."""
    fd, name = tempfile.mkstemp(dir=directory, suffix=".dcm")
    with os.fdopen(fd, "wb") as out, instance.file.open("rb") as src:
        shutil.copyfileobj(src, out, 1024 * 1024)
    return Path(name)


def exclude(share: Share, instance: Instance, reason: str, *, acceptable: bool = False) -> None:
    ShareExclusion.objects.get_or_create(share=share, instance=instance, defaults={"reason": reason[:300], "acceptable": acceptable})


def pending_instances(share: Share) -> list[Instance]:
    done = set(share.items.exclude(instance=None).values_list("instance_id", flat=True))
    excluded = set(share.exclusions.filter(accepted_at__isnull=True).exclude(instance=None).values_list("instance_id", flat=True))
    instances = share.instances.order_by("series__series_number", "series_id", "instance_number", "id")
    return [i for i in instances if i.pk not in done and i.pk not in excluded]


def prepare_share(share_id: int, generation: int) -> bool:
    """Run anonymize → render → publish for a share. Returns True when its link is still to be delivered."""
    share = Share.objects.select_related("clinic", "study").get(pk=share_id)
    if share.generation != generation or share.is_revoked:
        return False
    if not acquire_lease(share):
        log.info("share %s is being prepared by another run", share.pk)
        return False
    try:
        return prepare_leased(share, generation)
    finally:
        release_lease(share)


def prepare_leased(share: Share, generation: int) -> bool:
    Share.objects.filter(pk=share.pk, status=Share.Status.QUEUED).update(status=Share.Status.PROCESSING, updated_at=timezone.now())
    accepted = set(share.exclusions.filter(accepted_at__isnull=False).values_list("instance_id", flat=True))
    work = work_folder(share)
    try:
        todo = pending_instances(share)
        set_step(share, "anonymizing", progress_total=share.instances.count(), progress_done=share.items.exclude(instance=None).count())
        renderable: list[tuple[Instance, Path]] = []
        for instance in todo:
            set_step(share, "anonymizing")
            source = local_copy(instance, work)
            anonymized = work / f"anon-{instance.pk}.dcm"
            result = anonymize_strict(source, anonymized, clinic_id=share.clinic_id, accept_unverified=instance.pk in accepted)
            source.unlink(missing_ok=True)
            if result.status == "discarded":
                exclude(share, instance, f"not an image: {result.reason}")
            elif result.status != "written":
                exclude(share, instance, f"could not be anonymized: {result.reason}")
            elif not result.pixels_verified and instance.pk not in accepted:
                exclude(share, instance, UNVERIFIED_REASON, acceptable=True)
                anonymized.unlink(missing_ok=True)
            else:
                renderable.append((instance, anonymized))

        set_step(share, "rendering")
        publish_previews(share, renderable, work)
        publish_documents(share)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    items = share.items.count()
    set_step(share, "publishing", progress_done=share.items.exclude(instance=None).count())
    if items == 0:
        Share.objects.filter(pk=share.pk).update(
            status=Share.Status.FAILED, step="", error="Nothing could be shared: every image was excluded. Review the exclusions.",
        )
        ShareEvent.objects.create(share=share, kind=ShareEvent.Kind.FAILED, detail="every image was excluded")
        return False
    if not share.events.filter(kind=ShareEvent.Kind.PROCESSED).exists():
        ShareEvent.objects.create(share=share, kind=ShareEvent.Kind.PROCESSED, detail=f"{items} items")
    # Items accepted after delivery join the page; the patient already has the link.
    return share.delivered_generation < generation


def publish_previews(share: Share, renderable: list[tuple[Instance, Path]], work: Path) -> None:
    from ..previews import PreviewError, render_instances

    base = share.items.count()
    workers = render_concurrency()
    # In batches of the worker's concurrency: each batch renders in parallel, then publishes and
    # renews the lease, so a long exam shows progress and is never mistaken for a stuck one.
    for start in range(0, len(renderable), workers):
        batch = renderable[start:start + workers]
        stems = [(path, f"item-{start + index}") for index, (_, path) in enumerate(batch)]
        results = render_instances(stems, work / "out", workers=workers)
        for offset, ((instance, _), result) in enumerate(zip(batch, results)):
            if isinstance(result, (PreviewError, Exception)):
                exclude(share, instance, f"could not be rendered: {result}")
                continue
            store_item(share, instance, result, position=base + start + offset)
        set_step(share, "rendering", progress_done=share.items.exclude(instance=None).count())


def store_item(share: Share, instance: Instance, rendered, *, position: int) -> None:
    item = ShareItem(
        share=share, instance=instance, kind=ShareItem.Kind.CLIP if rendered.kind == "clip" else ShareItem.Kind.IMAGE,
        position=position, width=rendered.width, height=rendered.height, frames=rendered.frames,
        size=rendered.media.stat().st_size,
    )
    saved = []
    try:
        for field, path in (("media", rendered.media), ("thumbnail", rendered.thumbnail), ("poster", rendered.poster)):
            if path:
                with open(path, "rb") as fh:
                    getattr(item, field).save(path.name, File(fh), save=False)
                saved.append(getattr(item, field))
        with transaction.atomic():
            item.save()
    except BaseException as exc:
        # Nothing half-published: files without their row are removed. IntegrityError means a
        # concurrent run published this instance first, which is fine.
        for stored in saved:
            stored.delete(save=False)
        if not isinstance(exc, IntegrityError):
            raise


def publish_documents(share: Share) -> None:
    """A standard clinic's PDFs go out only behind a passcode; strict clinics never hold them."""
    if not share.include_documents or share.clinic.is_strict:
        return
    for document in share.study.documents.filter(kind="pdf"):
        if share.items.filter(document=document).exists():
            continue
        if not share.needs_passcode:
            if not share.exclusions.filter(document=document).exists():
                ShareExclusion.objects.create(share=share, document=document, reason=DOCUMENT_NEEDS_PASSCODE)
            continue
        item = ShareItem(share=share, document=document, kind=ShareItem.Kind.DOCUMENT, size=document.size,
                         position=share.items.count())
        with document.file.open("rb") as fh:
            item.media.save("document.pdf", File(fh), save=False)
        try:
            with transaction.atomic():
                item.save()
        except IntegrityError:
            item.media.delete(save=False)
