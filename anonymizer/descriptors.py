"""Clean free text (the ``C`` action on descriptors and structured content).

Free text cannot be proven clean, so cleaning is conservative: every token
that equals an identifying value found in the same instance (names, IDs,
dates, institution, station) is cut out, and so is every run of four or more
digits (IDs, dates, phone numbers) and anything shaped like a date or an
e-mail address.  What remains is the clinical wording ("Fetal echo, 2nd
trimester").  This is a heuristic, which is why the strict profile removes
descriptors instead of cleaning them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydicom.dataset import Dataset

# Attributes whose values are identifying wherever else they are quoted.
_IDENTIFYING_KEYWORDS = (
    "PatientName", "PatientID", "OtherPatientIDs", "OtherPatientNames", "PatientBirthName",
    "PatientMotherBirthName", "IssuerOfPatientID", "AccessionNumber", "StudyID",
    "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName", "PhysiciansOfRecord",
    "NameOfPhysiciansReadingStudy", "RequestingPhysician", "InstitutionName",
    "InstitutionAddress", "InstitutionalDepartmentName", "StationName", "DeviceSerialNumber",
    "PatientAddress", "PatientTelephoneNumbers", "PatientBirthDate", "StudyDate",
    "MilitaryRank", "BranchOfService", "MedicalRecordLocator", "RegionOfResidence",
)

_DIGIT_RUN = re.compile(r"\d{4,}")
_DATE_SHAPE = re.compile(r"\b\d{1,4}[./\-]\d{1,2}[./\-]\d{1,4}\b")
_EMAIL_SHAPE = re.compile(r"\S+@\S+")
_SPACES = re.compile(r"\s{2,}")


def collect_identifiers(ds: Dataset) -> frozenset[str]:
    """Return the identifying words of an instance, upper-cased, for :func:`clean_text`."""
    words: set[str] = set()
    for keyword in _IDENTIFYING_KEYWORDS:
        element = ds.get(keyword)
        if element is None:
            continue
        values = element if isinstance(element, (list, tuple)) or type(element).__name__ == "MultiValue" else [element]
        for value in values:
            words.update(_words_of(str(value)))
    return frozenset(w for w in words if len(w) >= 2)


def _words_of(text: str) -> Iterable[str]:
    for part in re.split(r"[\^=\\,\s]+", text.upper()):
        part = part.strip(".-/")
        if part:
            yield part


def clean_text(value: str, identifiers: frozenset[str]) -> str:
    """Return ``value`` with identifying tokens, digit runs and date shapes cut out."""
    text = value
    if identifiers:
        # Whole identifying tokens first, before digit runs break them up.
        kept = [
            token for token in re.split(r"(\s+)", text)
            if not token.strip() or token.strip(".,;:()[]-/^").upper() not in identifiers
        ]
        text = "".join(kept)
    text = _EMAIL_SHAPE.sub(" ", text)
    text = _DATE_SHAPE.sub(" ", text)
    text = _DIGIT_RUN.sub(" ", text)
    return _SPACES.sub(" ", text).strip()
