"""`python manage.py render_previews SRC... --out DIR`: numbered outputs, a line per instance, exit status."""

from __future__ import annotations

import io
import shutil

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from .preview_samples import sample


@pytest.fixture
def exam_folder(tmp_path):
    """Files named the way some modalities name them: after the patient."""
    folder = tmp_path / "DOE^JANE"
    (folder / "series-2").mkdir(parents=True)
    shutil.copy(sample("examples_rgb_color.dcm"), folder / "DOE^JANE_0001.dcm")
    shutil.copy(sample("examples_ybr_color.dcm"), folder / "series-2" / "DOE^JANE_0002.dcm")
    shutil.copy(sample("MR_small.dcm"), folder / "DOE^JANE_0003")
    (folder / "README.txt").write_text("exported by the cart")
    return folder


def run(*args) -> tuple[str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("render_previews", *map(str, args), stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def test_folder_is_rendered_recursively_under_numbered_names(exam_folder, out_dir):
    stdout, _ = run(exam_folder, "--out", out_dir)
    names = {p.name for p in out_dir.iterdir()}
    assert names == {
        "img-001.jpg", "img-001-thumb.jpg", "img-002.jpg", "img-002-thumb.jpg",
        "clip-001.mp4", "clip-001-poster.jpg", "clip-001-thumb.jpg",
    }
    assert not any("DOE" in name for name in names), "an output name carries the patient's name"
    assert "clip-001 clip 320x240 30 frames at 30 fps" in stdout
    assert "skipped" in stdout and "README.txt" in stdout


def test_any_failure_makes_the_command_fail_after_rendering_the_rest(exam_folder, out_dir):
    data = sample("examples_ybr_color.dcm").read_bytes()
    (exam_folder / "DOE^JANE_0004.dcm").write_bytes(data[: len(data) // 2])
    stderr = io.StringIO()
    with pytest.raises(CommandError, match="1 of 4 instances could not be rendered"):
        call_command("render_previews", str(exam_folder), "--out", str(out_dir), stdout=io.StringIO(), stderr=stderr)
    assert "clip-001 FAILED" in stderr.getvalue() and "frame" in stderr.getvalue()
    names = {p.name for p in out_dir.iterdir()}
    assert {"img-001.jpg", "img-002.jpg", "clip-002.mp4"} <= names, "the good instances were not all rendered"
    assert not any(name.startswith("clip-001") for name in names)


def test_missing_source_is_a_usage_error(tmp_path, out_dir):
    with pytest.raises(CommandError, match="no such file") as caught:
        run(tmp_path / "nowhere", "--out", out_dir)
    assert caught.value.returncode == 2
