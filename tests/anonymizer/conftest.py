"""Pytest fixtures for the anonymizer; the builders live in anonymizer_fixtures.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from .anonymizer_fixtures import build_marker_dataset, write_dataset


@pytest.fixture
def marker_file(tmp_path: Path) -> Path:
    return write_dataset(build_marker_dataset(), tmp_path / "markers.dcm")


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder
