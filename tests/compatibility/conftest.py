"""The encoding tests check what each codec path does to the pixels it keeps: exactly the
decoded input, in the right colours. Text detection, which also blacks out text boxes inside the
kept area, is switched off here because these synthetic frames are modular stripe patterns that
a text detector rightly finds text-like; it is tested on real ultrasound frames in
tests/anonymizer/test_burned_in_text.py."""

from __future__ import annotations

from dataclasses import replace

import pytest


@pytest.fixture(autouse=True)
def codec_paths_only(request, monkeypatch):
    if request.module.__name__.rsplit(".", 1)[-1] not in ("test_device_encodings", "test_ingest_encodings"):
        return
    import anonymizer.anonymize as anonymize
    from anonymizer.pixels import TextVerdict

    def regions_only(pixel_module, plan, **kwargs):
        return replace(plan, text=TextVerdict(verified=True, reason="", rule=f"{plan.source} (codec test)"))

    monkeypatch.setattr(anonymize, "detect_burned_in_text", regions_only)
