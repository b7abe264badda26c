"""The burned-in text redaction policy, as data, and the small engine that applies it.

Detection decides *where* text is; recognition only decides whether a box may be *kept*.  A box
inside the kept area survives only when every token of its recognised text is ultrasound
annotation vocabulary (the allow-list below) and nothing in it looks like an identifier: a date,
a time, a run of five or more digits, or -- allowing small misreads -- any identifier from the
header.  Everything else is blacked out, so a misread can only cause more blacking out.

The vocabulary was written for this project from vendors' operator manuals (GE, Philips,
Siemens, Canon, Samsung, Mindray, Esaote); it is deliberately small.  Recognised text is an
identifier: nothing here stores, logs or returns it, only the decision and the rule that made it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pydicom.dataset import Dataset
from rapidfuzz import fuzz

# --- the allow-list ------------------------------------------------------------------------

# Words printed on ultrasound images that identify nobody, upper case.
ALLOWED_WORDS = frozenset("""
    MI TI TIS TIB TIC TIS0.4 GAIN GN G DEPTH D DR DYN DYNR FREQ FRQ F FR FPS HZ KHZ MHZ DB PWR POWER
    PRF WF SV GATE ANGLE ANG FOCUS FOC ZOOM HARM THI HAR COMP COMPOUND PERSIST PERS MAP CHROMA
    SRI SRI-HD XRES SONOCT XBEAM ICOMPOUND SPECKLE CRI TINT AO OUTPUT ACOUSTIC ENH LINE DENS DENSITY
    B M CF PW CW PD CD PDI DPDI TVI TDI 2D 3D 4D MODE BMODE B-MODE MMODE M-MODE COLOR COLOUR DOPPLER ELASTO
    STRAIN SWE CEUS CONTRAST LOW MED HIGH HI LO PEN RES GEN HGEN HPEN HRES NORMAL STD AUTO ON OFF C P
    SECTOR LINEAR CURVED PHASED FRAME FRAMES CINE LOOP LIVE FREEZE FROZEN BIOPSY GUIDE
    ABD ABDOMEN ABDO OB OB1 OB2 OB3 GYN OBGYN CARD CARDIAC ECHO TTE THY THYROID BREAST BRST VASC VASCULAR
    ARTERIAL VENOUS MSK SMALL PARTS PART SMP RENAL KIDNEY LIVER GB BILIARY SPLEEN PANCREAS BLADDER PELVIS PELVIC
    PROSTATE TESTIS SCROTUM FETAL FETUS EARLY NT CAROTID CAR LEG ARM UPPER LOWER EXT NECK CHEST LUNG
    NEONATAL NEO HEAD PED PEDS UROLOGY URO NERVE TCD TRANSCRANIAL APPENDIX BOWEL HIP SHOULDER KNEE
    LEFT RIGHT LT RT L R SAG SAGITTAL TRANS TRV TRX TRANSV TRANSVERSE LONG LONGITUDINAL LAT LATERAL MED MEDIAL
    CORONAL COR AXIAL OBL OBLIQUE PROX PROXIMAL MID DIST DISTAL ANT ANTERIOR POST POSTERIOR SUP SUPERIOR
    INF INFERIOR UPPER POLE LOBE ISTHMUS CCA ICA ECA VA SFA CFA POP GSV SSV IVC AO SMA RA LA RV LV MV AV TV PV
    DIST AREA VOL VOLUME CIRC CIRCUMFERENCE ELLIPSE TRACE HC AC BPD FL HL CRL GS YS EFW GA AFI MVP
    PSV EDV RI PI VTI TAMAX TAMEAN TAMX TAV VMAX VMEAN VEL ACCEL AT HR BPM S/D SD PG MAXPG MEANPG
    CALC MEAS MEASURE RESULT AVG MEAN MAX MIN NO YES
    CM MM M CM2 CM3 MM2 MM3 ML L S MS SEC % CM/S M/S MM/S MMHG KPA DEG ° X +
""".split())

# Transducer names: letters and digits as vendors print them (C5-1, L12-5, 9L, 4C-RS, eL18-4 ...).
PROBE_PATTERNS = (
    re.compile(r"^(?:E?[CLSPVM]|EC|EV|IC|BP|MC|TE|X|XL|VF|VC|LA|CA|PA|VX|LF|C[FX]?)\d{1,2}(?:-\d{1,2})?(?:[A-Z]{1,2}\d?)?$"),
    re.compile(r"^\d{1,2}(?:C|L|S|V|LA|CA|IC|VC)\d?(?:-[A-Z]{1,3})?$"),
)

# A number with an optional unit glued to it: 3.5, 3.5CM, 0.8, 60%, 15HZ, -3DB, 12.4MM.
NUMBER_TOKEN = re.compile(r"^[-+]?\d{1,4}(?:[.,]\d{1,3})?(?:CM|MM|M|HZ|KHZ|MHZ|DB|%|S|MS|CM/S|M/S|MMHG|BPM|ML|FPS|°)?$")
# Labels with a number glued on: MI0.8, TIS0.1, G60, D12, FR30, F5.0, 1X, X1.5.
LABELLED_NUMBER = re.compile(r"^(?:MI|TIS|TIB|TIC|TI|G|GN|D|DR|FR|F|P|PRF|WF|SV|AO|X)[:=]?\d{1,4}(?:[.,]\d{1,3})?(?:%|DB|HZ|CM|MHZ|KHZ)?$|^\d{1,2}(?:[.,]\d)?X$")

# --- identifiers ---------------------------------------------------------------------------

# Always identifiers, whatever the header says (PS3.15 treats dates, times and IDs as PHI).
MONTHS = r"(?:JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|SEPT|OCT|NOV|DEC)[A-Z]*"
IDENTIFIER_PATTERNS = (
    ("date", re.compile(r"\d{1,4}\s?[./-]\s?\d{1,2}\s?[./-]\s?\d{1,4}")),
    ("date", re.compile(r"(?<![\d.,])\d{1,2}\s?/\s?\d{1,4}(?![\d.,])")),   # 12/03, 3/1985 (a fraction is blacked too)
    ("date", re.compile(rf"\d{{1,2}}[\s./-]?{MONTHS}[\s./-]?\d{{2,4}}|{MONTHS}[\s./-]?\d{{1,2}}[\s,./-]+\d{{2,4}}")),
    ("date", re.compile(r"(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])")),
    ("time", re.compile(r"\d{1,2}\s?[:H]\s?\d{2}(?:\s?:\s?\d{2})?")),
)
# Checked on the text as read only: folding "G60 D12" into digits would make a run of them.
DIGIT_RUN = re.compile(r"(?<![\d.,])\d(?:[ -]?\d){4,}")

# Confusable glyphs a recogniser may return for digits, folded before matching identifiers:
# reading "O" for "0" must not let a date through.
DIGIT_CONFUSABLES = str.maketrans({"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "|": "1", "!": "1",
                                   "Z": "2", "S": "5", "B": "8", "G": "6", "T": "7"})

# Header attributes whose values, printed in the pixels, identify the patient or the visit.
IDENTIFIER_KEYWORDS = (
    "PatientName", "PatientID", "OtherPatientIDs", "OtherPatientNames", "PatientBirthName",
    "PatientMotherBirthName", "IssuerOfPatientID", "AccessionNumber", "StudyID", "InstitutionName",
    "InstitutionAddress", "InstitutionalDepartmentName", "ReferringPhysicianName", "PerformingPhysicianName",
    "NameOfPhysiciansReadingStudy", "PhysiciansOfRecord", "RequestingPhysician", "OperatorsName",
    "StationName", "PatientAddress", "PatientTelephoneNumbers", "MedicalRecordLocator",
    "PatientBirthDate", "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate",
    "StudyTime", "SeriesTime", "AcquisitionTime", "ContentTime",
)
SEQUENCE_IDENTIFIERS = (("OtherPatientIDsSequence", "PatientID"),)

# A header token counts as found in the text when partial similarity reaches this (0-100), by
# token length: one misread in four or five letters, two in seven.  Shorter tokens (1-2
# characters) match nothing on their own: they would black out "MI" for a patient called Mi.
FUZZY_THRESHOLDS = ((3, 100.0), (4, 75.0), (6, 70.0), (9, 66.0))

# A box holds about width / (height * CHARACTER_ASPECT) characters.  A reading with fewer than
# a third of that missed most of the box ("D" read in a box as wide as "DOE JANE"): it cannot
# vouch for what the box shows, so the box is blacked out.
CHARACTER_ASPECT = 0.45
MIN_READ_SHARE = 1 / 3
# A box with room for at most this many characters, in which the recogniser sees no letter or
# digit, is a symbol (a body-marker icon, a caliper cross, a logo dot): too small to hold a name,
# an ID or a date.  A wider box read as nothing is blacked out.
SYMBOL_MAX_CHARACTERS = 2.5

# The rules a decision names in the report.
ALLOWED = "allow-list"
NOT_ALLOWED = "not on the allow-list"
HEADER_IDENTIFIER = "header identifier"
UNREADABLE = "unreadable"
INCOMPLETE = "incomplete reading"
SYMBOL = "symbol"


@dataclass(frozen=True)
class TextDecision:
    """Whether one detected box may stay, and the rule that decided (never the text)."""

    keep: bool
    rule: str


def header_identifiers(ds: Dataset) -> tuple[str, ...]:
    """The identifying values of ``ds`` as normalised tokens (upper case, letters and digits).

    Call it on the original header, before de-identification.  Names are split into their
    parts; dates are added in the usual printed orders (the patterns catch most, this catches
    misreads of the patient's own dates).
    """
    values: list[str] = []
    for keyword in IDENTIFIER_KEYWORDS:
        element = ds.get(keyword)
        if element in (None, ""):
            continue
        items = element if isinstance(element, (list, tuple)) or type(element).__name__ == "MultiValue" else [element]
        values.extend(str(v) for v in items if v not in (None, ""))
    for sequence, keyword in SEQUENCE_IDENTIFIERS:
        for item in ds.get(sequence) or ():
            if item.get(keyword):
                values.append(str(item.get(keyword)))
    tokens: set[str] = set()
    for value in values:
        digits = re.sub(r"\D", "", value)
        if len(digits) == 8 and digits == value.strip():  # a DA value: YYYYMMDD
            tokens.update(_printed_dates(digits))
        whole = normalise(value)
        if len(whole) >= 3:
            tokens.add(whole)
        for part in re.split(r"[\^\s,.;:/\\=-]+", value):
            part = normalise(part)
            if len(part) >= 3:
                tokens.add(part)
    return tuple(sorted(tokens))


def _printed_dates(yyyymmdd: str) -> set[str]:
    year, month, day = yyyymmdd[:4], yyyymmdd[4:6], yyyymmdd[6:]
    return {year + month + day, day + month + year, month + day + year, day + month + year[2:], month + day + year[2:]}


def normalise(text: str) -> str:
    """Upper case, letters and digits only: how text and identifiers are compared."""
    return re.sub(r"[^0-9A-Z]", "", text.upper())


def decide_text(text: str, identifiers: Iterable[str] = (), *, box_size: tuple[int, int] | None = None) -> TextDecision:
    """Decide whether a recognised text box may stay in the image.

    Parameters
    ----------
    text : str
        What the recogniser read in the box.  It is used here and dropped: never stored.
    identifiers : iterable of str
        :func:`header_identifiers` of the original header (may be empty).
    box_size : (width, height), optional
        The detected box, to tell a reading that missed most of it.

    Returns
    -------
    TextDecision
        ``keep`` only when every token is on the allow-list and nothing looks like an
        identifier.
    """
    upper = " ".join(text.upper().split())
    expected = None
    if box_size is not None:
        width, height = box_size
        expected = width / max(height * CHARACTER_ASPECT, 1.0)
    if not normalise(upper):
        if expected is not None and expected <= SYMBOL_MAX_CHARACTERS:
            return TextDecision(True, SYMBOL)
        return TextDecision(False, UNREADABLE)
    if expected is not None:
        if len(upper.replace(" ", "")) < expected * MIN_READ_SHARE:
            return TextDecision(False, INCOMPLETE)
    for rule, pattern in IDENTIFIER_PATTERNS:
        if pattern.search(upper) or pattern.search(_fold_digits(upper)):
            return TextDecision(False, rule)
    if DIGIT_RUN.search(upper):
        return TextDecision(False, "digit run")
    if matches_identifier(upper, identifiers):
        return TextDecision(False, HEADER_IDENTIFIER)
    tokens = [t for t in re.split(r"[\s:=,;()\[\]<>]+", upper) if t]
    if all(_allowed_token(token) for token in tokens):
        return TextDecision(True, ALLOWED)
    return TextDecision(False, NOT_ALLOWED)


def matches_identifier(text: str, identifiers: Iterable[str]) -> bool:
    """True when a header identifier appears in ``text``, allowing small misreads."""
    plain = normalise(text)
    if not plain:
        return False
    folded = _fold_digits(plain)
    for token in identifiers:
        threshold = _threshold(len(token))
        if threshold is None:
            continue
        candidate = folded if token.isdigit() else plain
        if len(candidate) < min(len(token), 4):
            continue  # "MI" read in a box says nothing about a patient called SMITH
        # partial_ratio aligns the shorter string inside the longer: a read cut off by the box
        # edge ("SMIT") still matches its identifier ("SMITHSON").
        if fuzz.partial_ratio(token, candidate) >= threshold:
            return True
    return False


def _threshold(length: int) -> float | None:
    chosen = None
    for minimum, threshold in FUZZY_THRESHOLDS:
        if length >= minimum:
            chosen = threshold
    return chosen


def _fold_digits(text: str) -> str:
    # Fold confusables only next to digits, so "MI 0.8" keeps its letters but "1O/O3" becomes a date.
    return re.sub(r"(?<=\d)[OQDILZSBGT|!]|[OQDILZSBGT|!](?=\d)", lambda m: m.group(0).translate(DIGIT_CONFUSABLES), text)


def _allowed_token(token: str) -> bool:
    if token in ALLOWED_WORDS:
        return True
    stripped = token.strip(".-+*#'\"")
    if not stripped:
        return True  # punctuation alone (caliper marks "+", "x", "--")
    if stripped in ALLOWED_WORDS or NUMBER_TOKEN.match(stripped) or LABELLED_NUMBER.match(stripped):
        return True
    return any(pattern.match(stripped) for pattern in PROBE_PATTERNS)
