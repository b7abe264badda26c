"""Preview formats as a registry: every kind of share item declares what it is published as."""

from __future__ import annotations

from sharing.models import ShareItem
from sharing.previews.formats import FORMATS, preview_format


def test_every_item_kind_has_a_format_whose_download_is_its_media():
    assert set(FORMATS) == set(ShareItem.Kind.values)
    for kind, published in FORMATS.items():
        assert published.kind == kind
        assert published.renditions["download"] == published.media, "a download is the media file"
        assert all(r.field in ("media", "thumbnail", "poster") for r in published.renditions.values()), "a ShareItem file field"


def test_download_names_say_what_the_file_is_and_nothing_about_the_patient():
    assert preview_format("clip").download_name(1) == "ultrasound-clip-2.mp4"
    assert preview_format("image").download_name(0) == "ultrasound-image-1.jpg"
    assert preview_format("document").download_name(0) == "ultrasound-report-1.pdf"
    assert [r.field for r in preview_format("clip").stored()] == ["media", "poster", "thumbnail"]
    assert preview_format("clip").renditions["poster"].content_type == "image/jpeg"
