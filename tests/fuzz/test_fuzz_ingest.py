"""Bounded fuzzing of the ingest parser, the ZIP reader and the anonymizer (hypothesis).

A small fixed budget runs in the normal suite; `FUZZ_EXAMPLES=5000` runs more, and
`bench/fuzz_ingest.py` runs for a fixed time. The promises are in tests/fuzz/targets.py: only
RejectedFile / a `rejected` status for bad input, never a half-written file, never a hang.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings

from tests.fuzz.targets import check_anonymize, check_expand_zip, check_validate, damaged_dicom, damaged_zip, small_zip_limits, workdir

BUDGET = int(os.environ.get("FUZZ_EXAMPLES", "0"))


def budget(default: int):
    """A fixed example budget, derandomized so a run in CI is reproducible; a deadline per example."""
    return hypothesis_settings(
        max_examples=BUDGET or default,
        deadline=timedelta(seconds=10),
        derandomize=not BUDGET,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
    )


@budget(400)
@given(data=damaged_dicom())
def test_validate_dicom_only_accepts_or_rejects(data):
    with workdir() as folder:
        check_validate(data, folder)


@budget(300)
@given(data=damaged_zip())
def test_expand_zip_never_raises_and_leaves_nothing(data, settings):
    with small_zip_limits(settings), workdir() as folder:
        check_expand_zip(data, folder)


@pytest.mark.parametrize("profile", ["strict", "basic"])
@budget(150)
@given(data=damaged_dicom())
def test_anonymizer_never_raises_and_never_half_writes(profile, data):
    with workdir() as folder:
        check_anonymize(data, folder, profile)
