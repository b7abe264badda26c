"""Fixtures for the preview renderer tests (no database needed)."""

from pathlib import Path

import pytest


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    """Where a test's previews go: empty, so 'nothing left behind' can be checked."""
    path = tmp_path / "out"
    path.mkdir()
    return path
