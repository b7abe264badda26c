"""Every "C" (clean) cell of every option column of PS3.15 Table E.1-1 keeps no seeded marker (issue 10, point 3).

C means "replace with values of similar meaning known not to contain identifying information"
(PS3.15 E.3.10). Free text cannot be proven clean, so it becomes a fixed dummy; binary values go;
dates are modified per the option; AE titles become pseudonyms; names are emptied. For each option,
one dataset holds a marker in every attribute that option cleans (sequences hold markers in the
free text of their items), and after de-identification no marker may be found anywhere in the file.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pydicom
import pytest
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

from anonymizer import anonymize_file, basic_profile
from anonymizer.table_e1_1 import ROWS
from .anonymizer_fixtures import KEY, MARKER_DATE, MARKER_DATETIME, MARKER_TIME, image_basics

# Overlay and curve rows are masked (repeating groups): their first group stands for all.
MASKED_EXAMPLES = {0x50000000: 0x50003000, 0x60003000: 0x60003000, 0x60004000: 0x60004000}


def c_cells() -> dict[str, list[int]]:
    """Option name -> tags whose action under that option is C."""
    cells: dict[str, list[int]] = defaultdict(list)
    for tag, mask, _name, _basic, options in ROWS:
        for option, action in options.items():
            if action != "C":
                continue
            if mask == 0xFFFFFFFF:
                cells[option].append(tag)
            elif tag in MASKED_EXAMPLES:
                cells[option].append(MASKED_EXAMPLES[tag])
            # Private attributes (RetainSafePrivateOption): governed by the safe-private list,
            # tested in test_options.
    return dict(cells)


CELLS = c_cells()


def marker_text(serial: int) -> str:
    return f"ZQC{serial:05d}"


def seeded_item(serial: int) -> Dataset:
    """A content item with a marker in each kind of free text an item can carry."""
    item = Dataset()
    item.ValueType = "TEXT"
    item.RelationshipType = "CONTAINS"
    item.TextValue = f"seen with {marker_text(serial)}"
    item.PersonName = f"{marker_text(serial)}^NAME"
    item.Date = MARKER_DATE
    concept = Dataset()
    concept.CodeValue = marker_text(serial + 1)
    concept.CodingSchemeDesignator = "99ZQ"
    concept.CodeMeaning = f"meaning {marker_text(serial + 2)}"
    item.ConceptNameCodeSequence = Sequence([concept])
    text = Dataset()
    text.UnformattedTextValue = f"label {marker_text(serial + 3)}"
    item.TextObjectSequence = Sequence([text])
    return item


def seed(ds: Dataset, tag: int, serial: int) -> None:
    vr = dictionary_VR(tag).split(" ")[0]
    if vr == "SQ":
        ds.add_new(tag, vr, Sequence([seeded_item(serial)]))
    elif vr in ("LO", "SH", "ST", "LT", "UT", "UC", "CS"):
        ds.add_new(tag, vr, marker_text(serial))
    elif vr == "PN":
        ds.add_new(tag, vr, f"{marker_text(serial)}^NAME")
    elif vr == "AE":
        ds.add_new(tag, vr, marker_text(serial))
    elif vr == "UR":
        ds.add_new(tag, vr, f"http://{marker_text(serial).lower()}.example.org/")
    elif vr == "DA":
        ds.add_new(tag, vr, MARKER_DATE)
    elif vr == "DT":
        ds.add_new(tag, vr, MARKER_DATETIME)
    elif vr == "TM":
        ds.add_new(tag, vr, MARKER_TIME)
    elif vr in ("OB", "OW", "UN"):
        ds.add_new(tag, vr, marker_text(serial).encode() + b"\x00")
    else:  # pragma: no cover - a new VR among the C cells must be thought about
        raise AssertionError(f"no marker for VR {vr} of {tag:08X}")


def seeded_dataset(option: str) -> Dataset:
    ds = Dataset()
    image_basics(ds)
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.StudyInstanceUID = pydicom.uid.generate_uid()
    ds.SeriesInstanceUID = pydicom.uid.generate_uid()
    for serial, tag in enumerate(CELLS[option]):
        seed(ds, tag, serial * 10)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def test_every_option_column_with_c_cells_is_covered():
    assert set(CELLS) == {
        "CleanDescriptorsOption", "CleanGraphicsOption", "CleanStructuredContentOption",
        "RetainDeviceIdentityOption", "RetainPatientCharacteristicsOption",
        "RetainLongitudinalTemporalInformationModifiedDatesOption",
    }, "a new option column with C cells needs its markers checked here"
    assert {0x00102110, 0x00380500, 0x00400012, 0x00380050} <= set(CELLS["RetainPatientCharacteristicsOption"]), \
        "Allergies, Patient State, Pre-Medication and Special Needs are C under Retain Patient Characteristics"


@pytest.mark.parametrize("option", sorted(CELLS))
def test_no_seeded_marker_survives_a_c_cell(option, tmp_path):
    source = tmp_path / "in.dcm"
    seeded_dataset(option).save_as(source, enforce_file_format=True)
    assert b"ZQC" in source.read_bytes()
    out = tmp_path / "out.dcm"
    result = anonymize_file(source, out, profile=basic_profile([option]), key=KEY)
    assert result.status == "written", result.reason
    raw = out.read_bytes()
    assert b"ZQ" not in raw, f"{option}: a free-text, name, AE or binary marker survived a C cell"
    assert MARKER_DATE.encode() not in raw, f"{option}: a date survived a C cell unmodified"
    ds = pydicom.dcmread(out)
    for tag in CELLS[option]:
        if tag not in ds:
            continue
        element = ds[tag]
        if element.VR == "TM":
            # Modified Dates shifts whole days (intervals stay true), so a time of day stays:
            # a time alone identifies nobody once its date has moved.
            assert option == "RetainLongitudinalTemporalInformationModifiedDatesOption" or not element.value
        elif element.VR not in ("SQ",):
            assert "ZQ" not in str(element.value) and MARKER_DATE not in str(element.value), \
                f"{option}: ({tag >> 16:04X},{tag & 0xFFFF:04X}) kept its marker"


def test_retain_patient_characteristics_cleans_the_four_free_text_attributes(tmp_path):
    option = "RetainPatientCharacteristicsOption"
    source = tmp_path / "in.dcm"
    ds = seeded_dataset(option)
    ds.PatientAge, ds.PatientSex, ds.PatientWeight = "041Y", "F", "61"
    ds.save_as(source, enforce_file_format=True)
    out = tmp_path / "out.dcm"
    assert anonymize_file(source, out, profile=basic_profile([option]), key=KEY).status == "written"
    cleaned = pydicom.dcmread(out)
    for keyword in ("Allergies", "PatientState", "PreMedication", "SpecialNeeds"):
        assert cleaned.get(keyword) in (None, "", "CLEANED"), f"{keyword} must not be kept verbatim"
    assert (cleaned.PatientAge, cleaned.PatientSex, str(cleaned.PatientWeight)) == ("041Y", "F", "61"), \
        "the characteristics the option retains (K) stay"


def test_a_marker_file_is_a_real_file(tmp_path):
    path: Path = tmp_path / "probe.dcm"
    seeded_dataset("CleanGraphicsOption").save_as(path, enforce_file_format=True)
    assert pydicom.dcmread(path).get(0x60004000) is not None, "the overlay comment marker is really written"
