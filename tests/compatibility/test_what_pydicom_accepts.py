"""What pydicom reads, the portal reads: an implicit VR body under an explicit-VR syntax, and
SOP Class/Instance UIDs present only in the file meta (issue 10, point 1)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from anonymizer import anonymize_file, basic_profile, strict_profile
from sharing.ingest.validation import validate_dicom

from .device_samples import ULTRASOUND_IMAGE

KEY = b"pydicom-accepts"
# pydicom's own sample: explicit VR little endian in the meta, an implicit VR body.
IMPLICIT_BODY = Path(get_testdata_file("SC_rgb_jpeg.dcm", download=False))


def read_without_warnings(path: Path) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an output must not need pydicom's leniency
        return pydicom.dcmread(path)


@pytest.mark.filterwarnings("ignore:Expected explicit VR:UserWarning")
@pytest.mark.parametrize("profile", [strict_profile(), basic_profile()], ids=["strict", "basic"])
def test_an_implicit_vr_body_under_an_explicit_syntax_is_anonymized_into_a_valid_file(profile, tmp_path):
    result = anonymize_file(IMPLICIT_BODY, tmp_path / "out.dcm", profile=profile, key=KEY)
    assert result.status == "written", result.reason
    out = read_without_warnings(Path(result.output))
    assert out.file_meta.TransferSyntaxUID == pydicom.dcmread(IMPLICIT_BODY).file_meta.TransferSyntaxUID
    original = pydicom.dcmread(IMPLICIT_BODY)
    if profile.clean_pixels:
        # No regions: text detection searched the whole frame (this 100x100 colour test card reads
        # as text to it); what it kept is the same picture, re-encoded with the source's tables.
        before, after = original.pixel_array.astype(int), out.pixel_array.astype(int)
        blacked = (after.max(axis=-1) <= 40) & (before.max(axis=-1) > 40)
        kept = np.abs(before - after).max(axis=-1) <= 12
        assert (kept | blacked).all(), "each pixel comes through unchanged or blacked out as text"
    else:
        assert (out.pixel_array == original.pixel_array).all(), "the pixels come through unchanged (no regions)"


@pytest.mark.filterwarnings("ignore:Expected explicit VR:UserWarning")
def test_ingest_validation_accepts_an_implicit_vr_body_under_an_explicit_syntax():
    summary = validate_dicom(IMPLICIT_BODY)
    assert summary.sop_instance_uid == str(pydicom.dcmread(IMPLICIT_BODY).SOPInstanceUID)


def uids_only_in_meta(path: Path) -> tuple[Path, str, str]:
    ds = Dataset()
    ds.Modality = "US"
    ds.PatientName = "ZQMETA^ONLY"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows = ds.Columns = 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = bytes(range(64))
    sop_instance = generate_uid()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ULTRASOUND_IMAGE
    ds.file_meta.MediaStorageSOPInstanceUID = sop_instance
    ds.save_as(path, enforce_file_format=True)
    assert "SOPInstanceUID" not in pydicom.dcmread(path), "the data set itself has no SOP UIDs"
    return path, ULTRASOUND_IMAGE, sop_instance


@pytest.mark.parametrize("profile", [strict_profile(), basic_profile()], ids=["strict", "basic"])
def test_sop_uids_present_only_in_the_file_meta_are_used(profile, tmp_path):
    source, sop_class, sop_instance = uids_only_in_meta(tmp_path / "meta-only.dcm")
    result = anonymize_file(source, tmp_path / "out.dcm", profile=profile, key=KEY)
    assert result.status == "written", result.reason
    out = read_without_warnings(Path(result.output))
    assert out.SOPClassUID == sop_class
    assert out.SOPInstanceUID.startswith("2.25.") and out.SOPInstanceUID != sop_instance, "remapped like any other"
    assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
    assert b"ZQMETA" not in Path(result.output).read_bytes()


def test_ingest_validation_takes_sop_uids_from_the_file_meta(tmp_path):
    source, sop_class, sop_instance = uids_only_in_meta(tmp_path / "meta-only.dcm")
    summary = validate_dicom(source)
    assert (summary.sop_class_uid, summary.sop_instance_uid) == (sop_class, sop_instance)
