"""Stills are full-resolution, high-quality JPGs without metadata; names carry no identifiers."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from .preview_samples import build_native, moving_pattern, read_jpeg, sample
from sharing.previews import render_instance, render_instances


def quality_90_tables() -> dict[int, list[int]]:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, format="JPEG", quality=90)
    with Image.open(buffer) as image:
        return image.quantization


@pytest.fixture(scope="module")
def palette_still(tmp_path_factory):
    return render_instance(sample("examples_palette.dcm"), tmp_path_factory.mktemp("out"), stem="img-7")


def test_still_is_a_full_resolution_jpg(palette_still):
    assert palette_still.kind == "image" and palette_still.media.suffix == ".jpg"
    assert (palette_still.width, palette_still.height) == (800, 350)
    assert read_jpeg(palette_still.media).shape[:2] == (350, 800)
    assert palette_still.poster is None and palette_still.frames == 1


def test_still_is_encoded_at_quality_90_or_better(palette_still):
    with Image.open(palette_still.media) as image:
        tables = image.quantization
    reference = quality_90_tables()
    for index, table in tables.items():
        assert max(np.subtract(table, reference[index])) <= 0, "coarser quantization than quality 90"


@pytest.mark.parametrize("which", ["media", "thumbnail"])
def test_jpgs_carry_no_exif_or_comment(palette_still, which):
    path = getattr(palette_still, which)
    with Image.open(path) as image:
        assert not image.getexif(), "EXIF written"
        assert "comment" not in image.info
    data = path.read_bytes()
    assert b"Exif" not in data and b"\xff\xfe" not in data[:2000], "an APP1/COM segment was written"


def test_thumbnail_fits_320_and_keeps_the_aspect(palette_still):
    thumbnail = read_jpeg(palette_still.thumbnail)
    assert thumbnail.shape[:2] == (140, 320)


def test_small_image_thumbnail_is_not_enlarged(out_dir):
    preview = render_instance(sample("SC_rgb_small_odd.dcm"), out_dir, stem="img-1")
    assert read_jpeg(preview.thumbnail).shape[:2] == (3, 3)


def test_output_names_come_from_the_stem_only(tmp_path, out_dir):
    patient_named = tmp_path / "DOE^JANE 1970-01-01.dcm"
    patient_named.write_bytes(sample("MR_small.dcm").read_bytes())
    clip = build_native(tmp_path / "DOE^JANE clip.dcm", moving_pattern(3, 16, 16, colour=False), "MONOCHROME2", bits_stored=8)
    render_instances([(patient_named, "img-1"), (clip, "clip-1")], out_dir, workers=2)
    names = {p.name for p in out_dir.iterdir()}
    assert names == {"img-1.jpg", "img-1-thumb.jpg", "clip-1.mp4", "clip-1-poster.jpg", "clip-1-thumb.jpg"}


def test_parallel_results_keep_the_order_of_the_items(out_dir):
    names = ["CT_small.dcm", "examples_ybr_color.dcm", "MR_small.dcm", "examples_palette.dcm"]
    results = render_instances([(sample(n), f"p-{i}") for i, n in enumerate(names)], out_dir, workers=2)
    assert [r.media.stem for r in results] == ["p-0", "p-1", "p-2", "p-3"]
    assert [r.kind for r in results] == ["image", "clip", "image", "image"]
