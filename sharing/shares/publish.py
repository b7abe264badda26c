"""Publish what the pipeline rendered as share items: stills and clips from the anonymized
instances, and a standard clinic's PDFs. A published item is a row and its files, or nothing."""

from __future__ import annotations

import logging
from pathlib import Path

from django.core.files import File
from django.db import IntegrityError, transaction

from anonymizer.defects import defect_sentence, report_defect

from ..models import Instance, Share, ShareExclusion, ShareItem
from ..previews.formats import preview_format
from . import lifecycle
from .exclusions import exclude
from .lease import LeaseLost, write_while_held

log = logging.getLogger(__name__)

UNRENDERABLE_REASON = "No preview could be made of this image: it uses a format the portal cannot display yet"
DOCUMENT_NEEDS_PASSCODE = "documents are shared only behind a passcode; set one for the link to include them"


def publish_previews(share: Share, renderable: list[tuple[Instance, Path]], work: Path, *, owner: str,
                     workers: int) -> None:
    """Render `renderable` (instance, anonymized file) pairs in batches of `workers` processes and
    publish each result; an instance that fails is excluded with its reason, never the share."""
    from ..previews import PreviewError, render_instances

    base = share.items.count()
    # Each batch renders in parallel, then publishes and renews the lease, so a long exam shows
    # progress and is never mistaken for a stuck one.
    for start in range(0, len(renderable), workers):
        batch = renderable[start:start + workers]
        stems = [(path, f"item-{start + index}") for index, (_, path) in enumerate(batch)]
        results = render_instances(stems, work / "out", workers=workers)
        for offset, ((instance, _), result) in enumerate(zip(batch, results)):
            if isinstance(result, PreviewError):
                reason = result.reason if result.reference else f"{UNRENDERABLE_REASON} ({result.reason})"
                exclude(share, instance, reason, owner=owner)
                continue
            try:
                store_item(share, instance, result, position=base + start + offset, owner=owner)
            except LeaseLost:
                raise
            except Exception as exc:
                reference = report_defect(exc, where=f"publishing instance {instance.pk} of share {share.pk}", logger=log)
                exclude(share, instance, defect_sentence(reference), owner=owner)
        lifecycle.report_step(share, lifecycle.Step.RENDERING, owner=owner,
                              progress_done=share.items.exclude(instance=None).count())


def store_item(share: Share, instance: Instance, rendered, *, position: int, owner: str) -> None:
    """Save the rendered files and then the row, while run `owner` holds the lease; on any
    failure (LeaseLost included) remove the files again."""
    published = preview_format(rendered.kind)
    item = ShareItem(
        share=share, instance=instance, kind=published.kind,
        position=position, width=rendered.width, height=rendered.height, frames=rendered.frames,
        size=rendered.media.stat().st_size,
    )
    saved = []
    try:
        # The files this kind keeps, as its format declares; the rendered preview names them alike.
        for field in (rendition.field for rendition in published.stored()):
            path = getattr(rendered, field, None)
            if path:
                with open(path, "rb") as fh:
                    getattr(item, field).save(path.name, File(fh), save=False)
                saved.append(getattr(item, field))
        write_while_held(share, owner, item.save)
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
            item.media.save(f"document.{preview_format(ShareItem.Kind.DOCUMENT).media.extension}", File(fh), save=False)
        try:
            with transaction.atomic():
                item.save()
        except IntegrityError:
            item.media.delete(save=False)
