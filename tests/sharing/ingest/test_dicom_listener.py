"""The C-STORE receiver: real transfers from dcmtk's storescu and from pynetdicom."""

from __future__ import annotations

import subprocess

import pydicom
import pytest
from pynetdicom import AE
from pynetdicom.sop_class import UltrasoundImageStorage, UltrasoundMultiFrameImageStorage

from sharing.listener import serve
from sharing.models import DicomDevice, Instance, Study
from tests.conftest import free_port, stored_files

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def listener(clinic):
    port = free_port()
    server = serve(host="127.0.0.1", port=port, ae_title="PORTAL", block=False)
    yield port
    server.shutdown()


def test_storescu_pushes_an_exam_that_the_api_lists(listener, clinic, exam, api):
    DicomDevice.objects.create(clinic=clinic, ae_title="US_ROOM_1")
    result = subprocess.run(
        ["storescu", "-xy", "-R", "-aet", "US_ROOM_1", "-aec", "PORTAL", "127.0.0.1", str(listener), *map(str, exam)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    listing = api.get("/api/v1/studies/").json()
    assert listing["count"] == 1
    assert listing["results"][0]["instance_count"] == len(exam)
    assert listing["results"][0]["source"] == "dicom"


def test_pynetdicom_store_answers_success_after_the_instance_is_stored(listener, clinic, exam, settings):
    clinic.accept_unknown_devices = True
    clinic.save()
    ae = AE(ae_title="ANY_SCU")
    ae.add_requested_context(UltrasoundMultiFrameImageStorage, pydicom.uid.JPEGBaseline8Bit)
    ae.add_requested_context(UltrasoundImageStorage, pydicom.uid.ExplicitVRLittleEndian)
    ae.add_requested_context(UltrasoundImageStorage, pydicom.uid.JPEG2000Lossless)
    ae.add_requested_context(UltrasoundImageStorage, pydicom.uid.JPEG2000)
    assoc = ae.associate("127.0.0.1", listener, ae_title="PORTAL")
    assert assoc.is_established
    try:
        for path in exam:
            ds = pydicom.dcmread(path)
            status = assoc.send_c_store(ds)
            assert status.Status == 0x0000
            # Success means durable: the row and its file exist the moment the sender hears it.
            instance = Instance.objects.get(sop_instance_uid=ds.SOPInstanceUID)
            assert instance.file.storage.exists(instance.file.name)
        again = assoc.send_c_store(pydicom.dcmread(exam[0]))
        assert again.Status == 0x0000, "a re-send is accepted"
    finally:
        assoc.release()
    assert Instance.objects.count() == len(exam), "and stored once"
    assert Study.objects.get().source_detail == "ANY_SCU"


def test_unknown_device_is_refused_when_no_clinic_accepts_it(listener, exam):
    ae = AE(ae_title="STRANGER")
    ae.add_requested_context(UltrasoundMultiFrameImageStorage, pydicom.uid.JPEGBaseline8Bit)
    ae.add_requested_context(UltrasoundImageStorage, pydicom.uid.ExplicitVRLittleEndian)
    assoc = ae.associate("127.0.0.1", listener, ae_title="PORTAL")
    try:
        status = assoc.send_c_store(pydicom.dcmread(exam[0]))
    finally:
        assoc.release()
    assert status.Status != 0x0000
    assert Instance.objects.count() == 0


def test_malformed_dataset_gets_a_failure_status_and_nothing_is_stored(listener, clinic, settings):
    clinic.accept_unknown_devices = True
    clinic.save()
    ds = pydicom.Dataset()
    ds.SOPClassUID = UltrasoundImageStorage
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.Rows, ds.Columns, ds.BitsAllocated, ds.SamplesPerPixel = 480, 640, 8, 1
    ds.PixelData = b"\0" * 100  # far shorter than 640 x 480
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ae = AE(ae_title="ANY")
    ae.add_requested_context(UltrasoundImageStorage, pydicom.uid.ExplicitVRLittleEndian)
    assoc = ae.associate("127.0.0.1", listener, ae_title="PORTAL")
    try:
        status = assoc.send_c_store(ds)
    finally:
        assoc.release()
    assert status.Status == 0xC000
    assert Instance.objects.count() == 0 and stored_files(settings) == []
