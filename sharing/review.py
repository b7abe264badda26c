"""Staff review of images whose burned-in text could not be verified clean.

The pipeline records, with the exclusion, the anonymized rendering of the image with the text
boxes still detected in it outlined and numbered (never the original pixels: that is what the
patient would get).  Staff accept it as it is, or point at a box to black out, which the next run
of the share applies to every frame before accepting it.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from PIL import Image, ImageDraw, ImageFont

from .models import ShareExclusion

log = logging.getLogger(__name__)

OUTLINE = (255, 64, 64)
LABEL_SIZE = 14


def render_review_image(anonymized: Path, boxes) -> bytes | None:
    """The first frame of the anonymized file as a JPEG, each box outlined and numbered from 1.

    Returns None when the file cannot be rendered (the exclusion then shows no picture).
    """
    from .previews.frames import open_frame_source
    from .previews.processing import plan_display

    try:
        source = open_frame_source(anonymized)
        mapping = plan_display(source.header, lambda: source.frames([0]))
        frame = mapping(next(iter(source.frames([0]))))
    except Exception:
        log.exception("the review rendering of an anonymized image failed")
        return None
    image = Image.fromarray(frame).convert("RGB")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(LABEL_SIZE)
    for number, (x0, y0, x1, y1) in enumerate(boxes, start=1):
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=OUTLINE, width=2)
        label_y = y0 - LABEL_SIZE - 2 if y0 >= LABEL_SIZE + 2 else y1 + 1
        draw.text((x0, label_y), str(number), fill=OUTLINE, font=font)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def record_review(exclusion: ShareExclusion, anonymized: Path, boxes) -> None:
    """Store the review rendering and the remaining boxes with ``exclusion``."""
    boxes = [list(map(int, box)) for box in boxes]
    rendering = render_review_image(anonymized, boxes)
    if exclusion.review_image:
        exclusion.review_image.delete(save=False)
    if rendering is not None:
        exclusion.review_image.save("review.jpg", ContentFile(rendering), save=False)
    exclusion.review_boxes = boxes
    exclusion.save(update_fields=["review_image", "review_boxes"])


def blackout_and_accept(exclusion: ShareExclusion, box_number: int, *, user=None):
    """Black out box ``box_number`` (1-based, as shown) in every frame, then accept the image."""
    from .shares import service

    if not 1 <= box_number <= len(exclusion.review_boxes):
        raise ValidationError({"box": ["Choose one of the numbered boxes."]})
    box = exclusion.review_boxes[box_number - 1]
    if box not in exclusion.blackout_boxes:
        exclusion.blackout_boxes = [*exclusion.blackout_boxes, box]
        exclusion.save(update_fields=["blackout_boxes"])
    return service.accept_exclusion(exclusion, user=user)
