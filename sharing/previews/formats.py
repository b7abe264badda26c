"""Preview formats as a registry: what each kind of share item is published as.

A kind (image, clip, document) declares its renditions by the name the patient's URLs use
(``media``, ``download``, ``poster``, ``thumb``): which stored file holds each, its content type and
extension, plus the friendly file-name word and the download button's text. The model, the
pipeline, the patient's views, the landing page and the API read this instead of repeating it; a
new format is one entry here.

No Django here (like the rest of this package); the button texts are msgids that the landing page
translates (``{% translate %}`` of a variable), so they live in the catalogues already.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping


@dataclass(frozen=True)
class Rendition:
    """One file of an item: `field` names both the RenderedPreview attribute and the ShareItem file field."""

    field: str
    content_type: str
    extension: str


JPEG = {"content_type": "image/jpeg", "extension": "jpg"}


@dataclass(frozen=True)
class PreviewFormat:
    kind: str
    file_word: str          # ultrasound-<file_word>-<n>.<ext>: a name with no identifier
    download_label: str     # the landing page's button; translated there
    renditions: Mapping[str, Rendition] = field(default_factory=dict)

    @property
    def media(self) -> Rendition:
        return self.renditions["media"]

    def stored(self) -> list[Rendition]:
        """The distinct files an item of this kind keeps (``download`` serves ``media``)."""
        seen: dict[str, Rendition] = {}
        for rendition in self.renditions.values():
            seen.setdefault(rendition.field, rendition)
        return list(seen.values())

    def download_name(self, position: int) -> str:
        """``ultrasound-clip-2.mp4`` for the item at 0-based `position`."""
        return f"ultrasound-{self.file_word}-{position + 1}.{self.media.extension}"


def _format(kind: str, file_word: str, download_label: str, media: Rendition, **others: Rendition) -> PreviewFormat:
    renditions = {"media": media, "download": media, **others}
    return PreviewFormat(kind, file_word, download_label, MappingProxyType(renditions))


FORMATS: Mapping[str, PreviewFormat] = MappingProxyType({
    "image": _format("image", "image", "Download JPG", Rendition("media", **JPEG),
                     thumb=Rendition("thumbnail", **JPEG)),
    "clip": _format("clip", "clip", "Download MP4", Rendition("media", "video/mp4", "mp4"),
                    poster=Rendition("poster", **JPEG), thumb=Rendition("thumbnail", **JPEG)),
    "document": _format("document", "report", "Download report (PDF)", Rendition("media", "application/pdf", "pdf")),
})


def preview_format(kind: str) -> PreviewFormat:
    return FORMATS[kind]
