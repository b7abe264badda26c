"""No marker survives strict or basic de-identification, anywhere in the file."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from anonymizer import anonymize_dataset, anonymize_file, basic_profile, strict_profile
from anonymizer.profiles import STRICT_ALLOWED_KEYWORDS, STRICT_EMPTIED_KEYWORDS

from .anonymizer_fixtures import KEY, MARKER_UID_ROOT, build_marker_dataset, all_values, surviving_markers, write_dataset


def test_the_fixture_is_full_of_markers(marker_file: Path):
    assert len(surviving_markers(marker_file)) > 1500, "the marker fixture lost its markers: the test would prove nothing"


@pytest.mark.parametrize("profile", [strict_profile(), basic_profile()], ids=["strict", "basic"])
def test_no_marker_survives(profile, marker_file: Path, out_dir: Path):
    result = anonymize_file(marker_file, out_dir, profile=profile, key=KEY)
    assert result.status == "written", result.reason
    survivors = surviving_markers(Path(result.output))
    assert survivors == [], f"markers survived {profile.name} anonymization: {survivors[:10]}"


@pytest.mark.parametrize("profile", [strict_profile(), basic_profile()], ids=["strict", "basic"])
def test_no_marker_survives_in_memory_including_command_group(profile):
    ds = build_marker_dataset(with_command_group=True)
    result = anonymize_dataset(ds, profile=profile, key=KEY)
    leftovers = [(tag, value) for tag, value in all_values(result.dataset)
                 if "ZQ" in str(value) or MARKER_UID_ROOT in str(value) or "19870615" in str(value)]
    assert leftovers == [], f"markers survived {profile.name} in memory: {leftovers[:10]}"


def test_strict_keeps_only_the_allow_list(marker_file: Path, out_dir: Path):
    result = anonymize_file(marker_file, out_dir, profile=strict_profile(), key=KEY)
    ds = pydicom.dcmread(result.output)
    identity = {"PatientName", "PatientID", "PatientSex", "PatientBirthDate", "StudyDate", "SeriesDate",
                "AcquisitionDate", "ContentDate", "AcquisitionDateTime", "PatientIdentityRemoved",
                "DeidentificationMethod", "DeidentificationMethodCodeSequence", "BurnedInAnnotation",
                "LongitudinalTemporalInformationModified", "CodeValue", "CodingSchemeDesignator", "CodeMeaning"}
    allowed = STRICT_ALLOWED_KEYWORDS | set(STRICT_EMPTIED_KEYWORDS) | identity

    def walk(dataset):
        for element in dataset:
            assert element.keyword in allowed, f"strict kept {element.keyword or element.tag}, not on the allow-list"
            if element.VR == "SQ":
                for item in element.value:
                    walk(item)

    walk(ds)


def test_strict_identity_dates_and_additions(tmp_path: Path, out_dir: Path):
    ds = build_marker_dataset()
    ds.PatientBirthDate = "19870615"
    ds.StudyDate = "20240317"
    ds.StudyTime = "101010"
    ds.AcquisitionDateTime = "20240317101010"
    source = write_dataset(ds, tmp_path / "identity.dcm")
    result = anonymize_file(source, out_dir, profile=strict_profile(), key=KEY)
    out = pydicom.dcmread(result.output)
    assert out.PatientName == "ANONYMOUS" and out.PatientID == "000000" and out.PatientSex == "O"
    assert out.PatientBirthDate == "19800101", "birth date must keep the decade only"
    assert out.StudyDate == "20240101", "study date must keep the year only"
    assert out.StudyTime == "", "StudyTime (Type 2) must be emptied"
    assert out.AcquisitionDateTime == "2024", "DT keeps the year only"
    assert "PatientAge" not in out and "OtherPatientNames" not in out and "OtherPatientIDsSequence" not in out
    assert out.AccessionNumber == "" and out.StudyID == ""
    assert "OperatorsName" not in out and "InstitutionName" not in out and "StationName" not in out
    assert "DeviceSerialNumber" not in out and "StudyDescription" not in out and "ProtocolName" not in out
    assert out.PatientIdentityRemoved == "YES"
    assert out.BurnedInAnnotation == "NO", "pixels were cleaned by regions"
    codes = {item.CodeValue for item in out.DeidentificationMethodCodeSequence}
    assert codes == {"113100", "113101", "113105", "113107"}
    assert not [e for e in out.iterall() if e.tag.is_private], "private elements survived strict"
    assert not [e for e in out if e.tag.group & 0xFF00 in (0x6000, 0x5000)], "overlay or curve survived strict"


def test_strict_empty_birth_date_stays_empty(tmp_path: Path, out_dir: Path):
    ds = build_marker_dataset()
    ds.PatientBirthDate = ""
    result = anonymize_file(write_dataset(ds, tmp_path / "e.dcm"), out_dir, profile=strict_profile(), key=KEY)
    assert pydicom.dcmread(result.output).PatientBirthDate == ""


def test_file_meta_is_rebuilt_without_source_values(marker_file: Path, out_dir: Path):
    result = anonymize_file(marker_file, out_dir, profile=basic_profile(), key=KEY)
    meta = pydicom.dcmread(result.output).file_meta
    assert "SourceApplicationEntityTitle" not in meta and "PrivateInformation" not in meta
    assert meta.MediaStorageSOPInstanceUID == result.new_sop_uid
