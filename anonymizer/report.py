"""The operator's CSV anonymization report.

It maps original to anonymized patient name, ID and study UID, so it holds
PHI: it is written only where the operator asks (``--report``), never by
default, and with owner-only permissions.  For pixels it says which rule
decided and how many text boxes were found, blacked out and kept by the
allow-list; the recognised text itself is never written.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path

from .anonymize import AnonymizationResult

COLUMNS = (
    "source", "status", "reason", "pixels_verified", "output",
    "original_patient_name", "new_patient_name", "original_patient_id", "new_patient_id",
    "original_study_uid", "new_study_uid", "original_sop_uid", "new_sop_uid", "reference",
    "pixel_rule", "text_boxes_found", "text_boxes_blacked_out", "text_boxes_kept",
)


def write_report(path: str | os.PathLike, results: Iterable[AnonymizationResult]) -> int:
    """Write one CSV row per input; return the number of rows.

    The file is created with mode 0600 because it links patients to their
    pseudonyms.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    rows = 0
    with os.fdopen(descriptor, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for result in results:
            writer.writerow([_cell(getattr(result, column)) for column in COLUMNS])
            rows += 1
    return rows


def _cell(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
