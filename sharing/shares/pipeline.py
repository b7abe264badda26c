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
import uuid
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from anonymizer.defects import defect_sentence, report_defect

from ..anonymization import anonymize_strict
from ..models import Instance, Share, ShareEvent, ShareExclusion, ShareItem

log = logging.getLogger(__name__)

UNREADABLE_REASON = "This image could not be anonymized: its file is damaged or uses a format the portal cannot read yet"
UNRENDERABLE_REASON = "No preview could be made of this image: it uses a format the portal cannot display yet"
STORAGE_REASON = ("The stored file of this image could not be read (reference {reference}). "
                  "Try again later; if it keeps failing, give the reference to support.")
UNVERIFIED_REASON = "burned-in text in the pixels could not be verified clean; review it and accept it to include it"
DOCUMENT_NEEDS_PASSCODE = "documents are shared only behind a passcode; set one for the link to include them"


def render_concurrency() -> int:
    return max(1, int(os.environ.get("RENDER_CONCURRENCY", 0)) or os.cpu_count() or 1)


def lease_expiry():
    return timezone.now() + dt.timedelta(seconds=settings.SHARE_LEASE_SECONDS)


class LeaseLost(Exception):
    """Our lease ran out and another run took the share over: stop writing, it finishes the work."""


# What prepare_share tells its task.
DELIVER, DONE, BUSY = "deliver", "done", "busy"


def acquire_lease(share: Share) -> str | None:
    """Take the share's lease if nobody holds it, atomically; return our owner token or None."""
    now = timezone.now()
    owner = uuid.uuid4().hex
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    taken = Share.objects.filter(free, pk=share.pk).update(lease_until=lease_expiry(), lease_owner=owner, updated_at=now)
    return owner if taken == 1 else None


def release_lease(share: Share, owner: str) -> None:
    # Only our own: after a stall, the lease may belong to a newer run.
    Share.objects.filter(pk=share.pk, lease_owner=owner).update(lease_until=None, lease_owner="")


def set_step(share: Share, step: str, *, owner: str, **fields) -> None:
    """Record progress; it also renews our lease and tells the sweep the share is alive."""
    renewed = Share.objects.filter(pk=share.pk, lease_owner=owner).update(
        step=step, updated_at=timezone.now(), lease_until=lease_expiry(), **fields
    )
    if not renewed:
        raise LeaseLost


def work_folder(share: Share, owner: str) -> Path:
    """This run's scratch folder. Holding the lease, we also clear what dead runs of this share
    left behind, instead of leaking it."""
    root = Path(settings.FILE_UPLOAD_TEMP_DIR)
    for stale in root.glob(f"share-{share.public_id.hex}*"):
        shutil.rmtree(stale, ignore_errors=True)
    folder = root / f"share-{share.public_id.hex}-{owner[:12]}"
    folder.mkdir(parents=True)
    return folder


def local_copy(instance: Instance, directory: Path) -> Path:
    """Copy the stored file to local disk: storage may be S3, and the anonymizer needs a path."""
    fd, name = tempfile.mkstemp(dir=directory, suffix=".dcm")
    with os.fdopen(fd, "wb") as out, instance.file.open("rb") as src:
        shutil.copyfileobj(src, out, 1024 * 1024)
    return Path(name)


def exclude(share: Share, instance: Instance, reason: str, *, acceptable: bool = False) -> None:
    """Record why an instance is left out. An accepted image that fails for another reason is
    excluded again, for that reason, so it is not retried forever."""
    ShareExclusion.objects.update_or_create(
        share=share, instance=instance,
        defaults={"reason": reason[:300], "acceptable": acceptable, "accepted_at": None, "accepted_by": None},
    )


def pending_instances(share: Share) -> list[Instance]:
    done = set(share.items.exclude(instance=None).values_list("instance_id", flat=True))
    excluded = set(share.exclusions.filter(accepted_at__isnull=True).exclude(instance=None).values_list("instance_id", flat=True))
    instances = share.instances.order_by("series__series_number", "series_id", "instance_number", "id")
    return [i for i in instances if i.pk not in done and i.pk not in excluded]


def prepare_share(share_id: int, generation: int) -> str:
    """Run anonymize → render → publish for a share.

    Returns DELIVER when its link is still to be sent, BUSY when another run holds the share (the
    task tries again shortly, so work asked for meanwhile is never dropped), DONE otherwise.
    """
    share = Share.objects.select_related("clinic", "study").get(pk=share_id)
    if share.generation != generation or share.is_revoked:
        return DONE
    owner = acquire_lease(share)
    if owner is None:
        log.info("share %s is being prepared by another run; retrying later", share.pk)
        return BUSY
    try:
        # Staff may accept an excluded image while we run: go round again for it (bounded, so an
        # image that keeps failing cannot hold the share forever).
        for _ in range(3):
            outcome = prepare_leased(share, generation, owner)
            if not pending_instances(share):
                break
        return outcome
    except LeaseLost:
        log.warning("share %s: lease lost to a newer run, which finishes the work", share.pk)
        return DONE
    finally:
        release_lease(share, owner)


def prepare_leased(share: Share, generation: int, owner: str) -> str:
    Share.objects.filter(pk=share.pk, status=Share.Status.QUEUED).update(status=Share.Status.PROCESSING, updated_at=timezone.now())
    accepted = set(share.exclusions.filter(accepted_at__isnull=False).values_list("instance_id", flat=True))
    work = work_folder(share, owner)
    try:
        todo = pending_instances(share)
        set_step(share, "anonymizing", owner=owner, progress_total=share.instances.count(),
                 progress_done=share.items.exclude(instance=None).count())
        renderable: list[tuple[Instance, Path]] = []
        for instance in todo:
            set_step(share, "anonymizing", owner=owner)
            anonymized = anonymize_one(share, instance, work, accepted=instance.pk in accepted)
            if anonymized is not None:
                renderable.append((instance, anonymized))
        set_step(share, "rendering", owner=owner)
        publish_previews(share, renderable, work, owner=owner)
        publish_documents(share)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    items = share.items.count()
    set_step(share, "publishing", owner=owner, progress_done=share.items.exclude(instance=None).count())
    if items == 0:
        Share.objects.filter(pk=share.pk).update(
            status=Share.Status.FAILED, step="", error="Nothing could be shared: every image was excluded. Review the exclusions.",
        )
        ShareEvent.objects.create(share=share, kind=ShareEvent.Kind.FAILED, detail="every image was excluded")
        return DONE
    if not share.events.filter(kind=ShareEvent.Kind.PROCESSED).exists():
        ShareEvent.objects.create(share=share, kind=ShareEvent.Kind.PROCESSED, detail=f"{items} items")
    # Items accepted after delivery join the page; the patient already has the link.
    share.refresh_from_db(fields=["delivered_generation"])
    return DELIVER if share.delivered_generation < generation else DONE


def anonymize_one(share: Share, instance: Instance, work: Path, *, accepted: bool) -> Path | None:
    """Anonymize one instance for the share; return the anonymized file, or None when it is
    excluded (and why is recorded). A failure here costs this image, never the whole share."""
    anonymized = work / f"anon-{instance.pk}.dcm"
    try:
        source = local_copy(instance, work)
        result = anonymize_strict(source, anonymized, clinic_id=share.clinic_id, accept_unverified=accepted)
        source.unlink(missing_ok=True)
    except Exception as exc:
        reference = report_defect(exc, where=f"reading instance {instance.pk} of share {share.pk} from storage", logger=log)
        exclude(share, instance, STORAGE_REASON.format(reference=reference))
        return None
    if result.status == "discarded":
        exclude(share, instance, f"not an image: {result.reason}")
    elif result.status == "failed":
        exclude(share, instance, result.reason)  # a defect: the sentence with its reference
    elif result.status != "written":
        exclude(share, instance, f"{UNREADABLE_REASON} ({result.reason})")
    elif not result.pixels_verified and not accepted:
        exclude(share, instance, UNVERIFIED_REASON, acceptable=True)
    else:
        return anonymized
    anonymized.unlink(missing_ok=True)
    return None


def publish_previews(share: Share, renderable: list[tuple[Instance, Path]], work: Path, *, owner: str) -> None:
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
            if isinstance(result, PreviewError):
                reason = result.reason if result.reference else f"{UNRENDERABLE_REASON} ({result.reason})"
                exclude(share, instance, reason)
                continue
            try:
                store_item(share, instance, result, position=base + start + offset)
            except Exception as exc:
                reference = report_defect(exc, where=f"publishing instance {instance.pk} of share {share.pk}", logger=log)
                exclude(share, instance, defect_sentence(reference))
        set_step(share, "rendering", owner=owner, progress_done=share.items.exclude(instance=None).count())


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
