"""Staff thumbnails of stored instances, rendered once on first view and kept in storage.

Staff see their clinic's exams as stored, so these come from the original pixels; patients only
ever get previews rendered from the anonymized copy (shares/pipeline.py).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files import File

from .models import Instance
from .previews.frames import open_frame_source
from .previews.processing import plan_display
from .previews.stills import write_thumbnail


def instance_thumbnail(instance: Instance):
    """Return the instance's thumbnail FieldFile, rendering it first if needed (None if it has no image)."""
    if instance.thumbnail:
        return instance.thumbnail
    work = Path(tempfile.mkdtemp(dir=settings.FILE_UPLOAD_TEMP_DIR))
    try:
        source_path = work / "instance.dcm"
        with instance.file.open("rb") as src, open(source_path, "wb") as out:
            shutil.copyfileobj(src, out, 1024 * 1024)
        try:
            source = open_frame_source(source_path)
            mapping = plan_display(source.header, lambda: source.frames([0]))
            image = mapping(next(iter(source.frames([0]))))
        except Exception:
            return None  # SR, PDF or an undecodable object: the page shows a placeholder
        target = work / "thumb.jpg"
        write_thumbnail(image, target)
        with open(target, "rb") as fh:
            instance.thumbnail.save("thumb.jpg", File(fh), save=False)
        Instance.objects.filter(pk=instance.pk).update(thumbnail=instance.thumbnail.name)
        return instance.thumbnail
    finally:
        shutil.rmtree(work, ignore_errors=True)
