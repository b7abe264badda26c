"""A worker whose text detection models are missing or broken refuses to start, loudly: otherwise
every image of every share would come out unverified, one by one."""

from __future__ import annotations

import subprocess
import sys

import pytest

from anonymizer.pixels.text_detection import DETECTOR_MODEL, MODEL_DIR_VARIABLE, RECOGNISER_MODEL
from tests.conftest import ROOT, worker_env


@pytest.mark.parametrize("damage", ["broken", "missing"])
def test_a_worker_with_a_missing_or_broken_model_refuses_to_start(tmp_path, damage):
    models = tmp_path / "models"
    models.mkdir()
    if damage == "broken":
        (models / DETECTOR_MODEL).write_bytes(b"this is not an ONNX model")
        (models / RECOGNISER_MODEL).write_bytes(b"neither is this")
    run = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "--loglevel", "INFO", "--concurrency", "1",
         "--without-gossip", "--without-mingle", "--hostname", f"models-{damage}@%h"],
        cwd=ROOT, env=worker_env(**{MODEL_DIR_VARIABLE: str(models)}), capture_output=True, text=True, timeout=120,
    )
    output = run.stdout + run.stderr
    assert run.returncode != 0, "the worker started without its text detection models"
    assert "worker cannot start: text detection model" in output, output[-2000:]
    assert " ready." not in output
