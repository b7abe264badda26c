"""Each PS3.15 option, and each custom-profile toggle, has its documented effect."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from anonymizer import anonymize_file, basic_profile, custom_profile
from anonymizer.actions import CLEANED_TEXT
from anonymizer.options import Option
from .anonymizer_fixtures import KEY, MARKER_DATE, MARKER_UID_ROOT, build_marker_dataset, write_dataset


def run(tmp_path: Path, profile, ds: Dataset | None = None, name: str = "in.dcm") -> Dataset:
    source = write_dataset(ds if ds is not None else build_marker_dataset(), tmp_path / name)
    out = tmp_path / f"out-{name}"
    result = anonymize_file(source, out, profile=profile, key=KEY)
    assert result.status == "written", result.reason
    return pydicom.dcmread(out)


def codes(ds: Dataset) -> set[str]:
    return {item.CodeValue for item in ds.DeidentificationMethodCodeSequence}


def test_basic_without_options_removes_what_the_options_would_keep(tmp_path):
    out = run(tmp_path, basic_profile())
    assert out.StudyInstanceUID.startswith("2.25."), "U must remap"
    assert out.get("DeviceSerialNumber", "") in ("", "ANONYMOUS"), "X/Z/D: no original serial"
    assert out.InstitutionName == "ANONYMOUS", "X/Z/D resolves to D: a dummy"
    assert "PatientAge" not in out and out.PatientSex == ""
    assert out.AcquisitionDate == "", "X/Z resolves to Z: present and empty"
    assert "StudyDescription" not in out
    assert out.ContentSequence == Sequence([Dataset()]), "D on a sequence leaves one empty item"
    assert not [e for e in out if e.tag.is_private]
    assert codes(out) == {"113100"}
    assert out.LongitudinalTemporalInformationModified == "REMOVED"


def test_retain_uids_keeps_uids(tmp_path):
    out = run(tmp_path, basic_profile([Option.RETAIN_UIDS]))
    assert out.StudyInstanceUID.startswith(MARKER_UID_ROOT), "Retain UIDs must keep StudyInstanceUID"
    assert out.SOPInstanceUID == f"{MARKER_UID_ROOT}.77777"
    assert "113110" in codes(out)


def test_retain_device_identity(tmp_path):
    out = run(tmp_path, basic_profile(["RetainDeviceIdentityOption"]))
    assert out.DeviceSerialNumber.startswith("ZQ"), "device serial kept (K)"
    assert out.StationAETitle.startswith("AE") and "ZQ" not in out.StationAETitle, "AE titles cleaned (C) to a pseudonym"
    assert "113109" in codes(out)


def test_retain_institution_identity(tmp_path):
    out = run(tmp_path, basic_profile(["RetainInstitutionIdentityOption"]))
    assert out.InstitutionName.startswith("ZQ") and out.InstitutionAddress.startswith("ZQ")
    assert "113112" in codes(out)


def test_retain_patient_characteristics(tmp_path):
    out = run(tmp_path, basic_profile(["RetainPatientCharacteristicsOption"]))
    assert out.PatientAge == "077Y" and out.PatientSex.startswith("ZQ") and "PatientWeight" in out
    assert "113108" in codes(out)


def test_retain_full_dates(tmp_path):
    out = run(tmp_path, basic_profile(["RetainLongitudinalTemporalInformationFullDatesOption"]))
    assert out.AcquisitionDate == MARKER_DATE and out.AcquisitionTime == "131313"
    assert out.LongitudinalTemporalInformationModified == "UNMODIFIED"
    assert "113106" in codes(out)


def test_retain_modified_dates_shifts_consistently_per_patient(tmp_path):
    first = build_marker_dataset()
    first.StudyDate, first.AcquisitionDate = "20240110", "20240115"
    second = build_marker_dataset()
    second.StudyDate, second.AcquisitionDate = "20240301", "20240301"
    profile = basic_profile(["RetainLongitudinalTemporalInformationModifiedDatesOption"])
    a = run(tmp_path, profile, first, "a.dcm")
    b = run(tmp_path, profile, second, "b.dcm")
    from datetime import date

    def parse(text):
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))

    assert a.AcquisitionDate != "20240115", "modified dates must differ from the original"
    assert (parse(a.AcquisitionDate) - parse(a.StudyDate)).days == 5, "intervals inside one study are kept"
    assert (parse(b.StudyDate) - parse(a.StudyDate)).days == (date(2024, 3, 1) - date(2024, 1, 10)).days, \
        "intervals between studies of one patient are kept"
    assert a.AcquisitionTime == "131313", "times of day are unchanged by a whole-day shift"
    assert a.LongitudinalTemporalInformationModified == "MODIFIED"
    assert "113107" in codes(a)


def test_clean_descriptors_replaces_free_text_with_a_fixed_dummy(tmp_path):
    ds = build_marker_dataset()
    ds.PatientName = "Doe^Jane"
    ds.StudyDescription = "Fetal echo ZQNEIGHBOUR called, Jane DOE MRN12345 on 12/03/2024"
    out = run(tmp_path, basic_profile(["CleanDescriptorsOption"]), ds)
    # Free text cannot be proven clean: C keeps none of it (PS3.15 E.3.10).
    assert out.StudyDescription == CLEANED_TEXT, out.StudyDescription
    assert "113105" in codes(out)


def test_clean_structured_content_walks_the_tree_and_keeps_no_free_text(tmp_path):
    ds = build_marker_dataset()
    ds.PatientName = "Doe^Jane"
    text_item = Dataset()
    text_item.ValueType = "TEXT"
    text_item.RelationshipType = "CONTAINS"
    text_item.TextValue = "Seen with ZQFRIEND, 4 cm lesion"
    ds.ContentSequence = Sequence([text_item])
    out = run(tmp_path, basic_profile(["CleanStructuredContentOption"]), ds)
    item = out.ContentSequence[0]
    assert item.TextValue == CLEANED_TEXT
    assert item.ValueType == "TEXT" and item.RelationshipType == "CONTAINS", "the tree's structure stays"
    assert "113104" in codes(out)


def test_clean_graphics_keeps_annotations_without_their_text(tmp_path):
    ds = build_marker_dataset()
    ds.PatientName = "Doe^Jane"
    text = Dataset()
    text.UnformattedTextValue = "ZQJANE 3.2 cm"
    annotation = Dataset()
    annotation.GraphicLayer = "LAYER1"
    annotation.TextObjectSequence = Sequence([text])
    ds.GraphicAnnotationSequence = Sequence([annotation])
    plain = run(tmp_path, basic_profile(), ds, "plain.dcm")
    assert plain.GraphicAnnotationSequence == Sequence([Dataset()]), "without the option: D"
    out = run(tmp_path, basic_profile(["CleanGraphicsOption"]), ds, "graphics.dcm")
    assert out.GraphicAnnotationSequence[0].GraphicLayer == "LAYER1"
    assert out.GraphicAnnotationSequence[0].TextObjectSequence[0].UnformattedTextValue == CLEANED_TEXT
    assert not [e for e in out if e.tag.group == 0x6000], \
        "overlay bitmaps cannot be verified clean: removed even with Clean Graphics"
    assert "113103" in codes(out)


def test_clean_pixel_data(tmp_path):
    out = run(tmp_path, basic_profile(["CleanPixelDataOption"]))
    pixels = out.pixel_array
    assert (pixels[:2, :] == 0).all() and (pixels[:, 14:] == 0).all(), "outside the region must be black"
    assert (pixels[2:14, 2:14] != 0).all(), "inside the region must stay"
    assert out.BurnedInAnnotation == "NO" and "113101" in codes(out)


def test_retain_safe_private_keeps_only_known_safe_elements(tmp_path):
    out = run(tmp_path, basic_profile(["RetainSafePrivateOption"]))
    assert out[0x0019100C].value == "1000", "the safe Siemens B_value must stay"
    assert out[0x00190010].value == "SIEMENS MR HEADER", "its private creator must stay with it"
    assert 0x00191099 not in out and 0x00091001 not in out and 0x00090010 not in out
    assert "113111" in codes(out)


def test_unknown_option_name_is_refused():
    with pytest.raises(ValueError, match="unknown option"):
        basic_profile(["RetainEverythingOption"])


# --- custom profile toggles -----------------------------------------------------------------

def test_custom_defaults_generate_a_keyed_pseudonym_and_clear_birth_date(tmp_path):
    ds = build_marker_dataset()
    ds.PatientBirthDate = "19870615"
    out = run(tmp_path, custom_profile(), ds)
    assert str(out.PatientName).startswith("ANON") and out.PatientID == str(out.PatientName)
    assert out.PatientBirthDate == "19000101", "cleared birth date is 19000101"
    again = run(tmp_path, custom_profile(), build_marker_dataset(), "again.dcm")
    assert again.PatientID == out.PatientID, "the same patient gets the same pseudonym with one key"
    assert "StudyDescription" not in out and "SeriesDescription" not in out


def test_custom_given_identity_and_keeps(tmp_path):
    ds = build_marker_dataset()
    ds.PatientID = "MRN1"
    ds.PatientBirthDate = "19870615"
    ds.StudyDescription = "Obstetric scan"
    profile = custom_profile(
        keep_body_characteristics=True, keep_full_dates=True, keep_birth_date=True, keep_private_tags=True,
        keep_descriptions=True, patient_identities={"MRN1": ("Study^Subject 7", "SUBJ7")})
    out = run(tmp_path, profile, ds)
    assert (str(out.PatientName), out.PatientID) == ("Study^Subject 7", "SUBJ7")
    assert out.PatientBirthDate == "19870615" and out.PatientAge == "077Y"
    assert out.AcquisitionDate == MARKER_DATE and out.StudyDescription == "Obstetric scan"
    assert out[0x00091001].value == "ZQPRIVATE", "private tags kept on request"
    assert out[0x00091002].value[0].PatientName == "", "private sequences are still walked (PatientName: Z)"


def test_custom_removes_secondary_capture_unless_asked(tmp_path):
    ds = build_marker_dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    source = write_dataset(ds, tmp_path / "sc.dcm")
    removed = anonymize_file(source, tmp_path / "sc-out.dcm", profile=custom_profile(), key=KEY)
    assert removed.status == "discarded" and "secondary capture" in removed.reason
    kept = anonymize_file(source, tmp_path / "sc-out.dcm", profile=custom_profile(remove_secondary_capture_and_sr=False), key=KEY)
    assert kept.status == "written"
