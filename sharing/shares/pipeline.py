"""The prepare stage of a share: anonymize the selected instances (strict profile, the clinic's
key), render previews from the anonymized pixels in parallel, and publish them as share items.

Every step is idempotent. An instance that already has an item or an exclusion is skipped, so a
task that runs twice, or again after its worker was killed, finishes the work instead of redoing it.
The share's status and step move only through `lifecycle`; the lease lives in `lease`.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from django.conf import settings

from anonymizer.defects import report_defect

from ..anonymization import anonymize_strict
from ..models import Instance, Share
from . import lifecycle
from .exclusions import exclude, pending_instances
from .lease import LeaseKeeper, LeaseLost, acquire_lease, release_lease
from .lifecycle import Next, Step
from .publish import publish_documents, publish_previews

log = logging.getLogger(__name__)

UNREADABLE_REASON = "This image could not be anonymized: its file is damaged or uses a format the portal cannot read yet"
STORAGE_REASON = ("The stored file of this image could not be read (reference {reference}). "
                  "Try again later; if it keeps failing, give the reference to support.")
UNVERIFIED_REASON = "burned-in text in the pixels could not be verified clean; review it and accept it to include it"


def unverified_reason(result) -> str:
    """The exclusion's reason: why, which rule decided, and the box counts (never the text)."""
    return (f"{UNVERIFIED_REASON}. Why: {result.unverified_reason or 'not verified'}. {result.text_summary}.")[:300]


def render_concurrency() -> int:
    return max(1, int(os.environ.get("RENDER_CONCURRENCY", 0)) or os.cpu_count() or 1)


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


def prepare_share(share_id: int, generation: int) -> Next:
    """Run anonymize → render → publish for a share.

    Returns
    -------
    Next
        The deliver stage when its link is still to be sent; the prepare stage again, later, when
        another run holds the share (work asked for meanwhile is never dropped; leases expire, so
        this ends); nothing otherwise.
    """
    share = Share.objects.select_related("clinic", "study").get(pk=share_id)
    if share.generation != generation or share.is_revoked:
        return lifecycle.NOTHING
    owner = acquire_lease(share)
    if owner is None:
        log.info("share %s is being prepared by another run; retrying later", share.pk)
        return Next(lifecycle.Stage.PREPARE, max(1, settings.SHARE_BUSY_RETRY_SECONDS))
    try:
        with LeaseKeeper(share, owner):
            # Staff may accept an excluded image while we run: go round again for it (bounded, so
            # an image that keeps failing cannot hold the share forever).
            for _ in range(3):
                follow = prepare_leased(share, generation, owner)
                if not pending_instances(share):
                    break
        return follow
    except LeaseLost:
        log.warning("share %s: lease lost to a newer run, which finishes the work", share.pk)
        return lifecycle.NOTHING
    finally:
        release_lease(share, owner)


def prepare_leased(share: Share, generation: int, owner: str) -> Next:
    lifecycle.started(share)
    # Accepted instances, with the boxes staff asked to black out in review.
    accepted = dict(share.exclusions.filter(accepted_at__isnull=False).values_list("instance_id", "blackout_boxes"))
    work = work_folder(share, owner)
    try:
        todo = pending_instances(share)
        lifecycle.report_step(share, Step.ANONYMIZING, owner=owner, progress_total=share.instances.count(),
                              progress_done=share.items.exclude(instance=None).count())
        renderable: list[tuple[Instance, Path]] = []
        for instance in todo:
            lifecycle.report_step(share, Step.ANONYMIZING, owner=owner)
            anonymized = anonymize_one(share, instance, work, owner=owner, accepted=instance.pk in accepted,
                                       blackout=accepted.get(instance.pk) or ())
            if anonymized is not None:
                renderable.append((instance, anonymized))
        lifecycle.report_step(share, Step.RENDERING, owner=owner)
        publish_previews(share, renderable, work, owner=owner, workers=render_concurrency())
        publish_documents(share)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    items = share.items.count()
    lifecycle.report_step(share, Step.PUBLISHING, owner=owner, progress_done=share.items.exclude(instance=None).count())
    if items == 0:
        lifecycle.nothing_to_share(share)
        return lifecycle.NOTHING
    return lifecycle.prepared(share, generation, items=items)


def anonymize_one(share: Share, instance: Instance, work: Path, *, owner: str, accepted: bool,
                  blackout=()) -> Path | None:
    """Anonymize one instance for the share; return the anonymized file, or None when it is
    excluded (and why is recorded). A failure here costs this image, never the whole share."""
    from anonymizer.pixels import TextEngineUnavailable

    anonymized = work / f"anon-{instance.pk}.dcm"
    try:
        source = local_copy(instance, work)
        result = anonymize_strict(source, anonymized, clinic_id=share.clinic_id, accept_unverified=accepted,
                                  blackout=blackout)
        source.unlink(missing_ok=True)
    except TextEngineUnavailable:
        raise  # a broken installation, not this image: the task fails loudly and is retried
    except Exception as exc:
        reference = report_defect(exc, where=f"reading instance {instance.pk} of share {share.pk} from storage", logger=log)
        exclude(share, instance, STORAGE_REASON.format(reference=reference), owner=owner)
        return None
    if result.status == "discarded":
        exclude(share, instance, f"not an image: {result.reason}", owner=owner)
    elif result.status == "failed":
        exclude(share, instance, result.reason, owner=owner)  # a defect: the sentence with its reference
    elif result.status != "written":
        exclude(share, instance, f"{UNREADABLE_REASON} ({result.reason})", owner=owner)
    elif not result.pixels_verified and not accepted:
        exclude(share, instance, unverified_reason(result), owner=owner, acceptable=True)
        from ..review import record_review

        record_review(share.exclusions.get(instance=instance), anonymized, result.remaining_text_boxes)
    else:
        return anonymized
    anonymized.unlink(missing_ok=True)
    return None
