"""UIDs are remapped consistently across a study's files and across jobs with one key."""

from __future__ import annotations

import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from anonymizer import anonymize_file, basic_profile, remap_uid, strict_profile
from .anonymizer_fixtures import KEY, OTHER_KEY, build_marker_dataset, write_dataset

STUDY = "1.2.826.0.1.3680043.10.999.100"
SERIES = "1.2.826.0.1.3680043.10.999.101"
FRAME_OF_REFERENCE = "1.2.826.0.1.3680043.10.999.102"


def study_files(tmp_path):
    first, second = build_marker_dataset(), build_marker_dataset()
    for index, ds in enumerate((first, second)):
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = STUDY, SERIES, FRAME_OF_REFERENCE
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"1.2.826.0.1.3680043.10.999.20{index}"
    reference = Dataset()
    reference.ReferencedSOPClassUID = first.SOPClassUID
    reference.ReferencedSOPInstanceUID = first.SOPInstanceUID
    second.ReferencedImageSequence = Sequence([reference])
    return write_dataset(first, tmp_path / "a.dcm"), write_dataset(second, tmp_path / "b.dcm")


def test_remap_uid_is_a_keyed_2_25_uid():
    new = remap_uid(STUDY, KEY)
    assert new.startswith("2.25.") and len(new) <= 64 and int(new[5:]) < 2 ** 128
    assert new == remap_uid(STUDY, KEY), "same key, same UID"
    assert new != remap_uid(STUDY, OTHER_KEY), "another key gives another UID"
    assert new != remap_uid(SERIES, KEY)


def test_uids_are_coherent_across_the_files_of_a_study(tmp_path):
    a, b = study_files(tmp_path)
    for profile in (strict_profile(), basic_profile()):
        out_a = pydicom.dcmread(anonymize_file(a, tmp_path / f"{profile.name}-a.dcm", profile=profile, key=KEY).output)
        out_b = pydicom.dcmread(anonymize_file(b, tmp_path / f"{profile.name}-b.dcm", profile=profile, key=KEY).output)
        assert out_a.StudyInstanceUID == out_b.StudyInstanceUID == remap_uid(STUDY, KEY)
        assert out_a.SeriesInstanceUID == out_b.SeriesInstanceUID
        assert out_a.FrameOfReferenceUID == out_b.FrameOfReferenceUID
        assert out_a.SOPInstanceUID != out_b.SOPInstanceUID
        assert out_b.ReferencedImageSequence[0].ReferencedSOPInstanceUID == out_a.SOPInstanceUID, \
            f"{profile.name}: a reference must point at the referenced file's new UID"
        assert out_a.file_meta.MediaStorageSOPInstanceUID == out_a.SOPInstanceUID
        assert out_a.SOPClassUID == "1.2.840.10008.5.1.4.1.1.6.1", "class UIDs are kept"


def test_uids_are_consistent_across_jobs_with_one_key_only(tmp_path):
    a, _ = study_files(tmp_path)
    first = anonymize_file(a, tmp_path / "job1.dcm", profile=strict_profile(), key=KEY)
    second = anonymize_file(a, tmp_path / "job2.dcm", profile=strict_profile(), key=KEY)
    third = anonymize_file(a, tmp_path / "job3.dcm", profile=strict_profile(), key=OTHER_KEY)
    assert first.new_study_uid == second.new_study_uid and first.new_sop_uid == second.new_sop_uid
    assert third.new_study_uid != first.new_study_uid, "a different key must give different UIDs"
