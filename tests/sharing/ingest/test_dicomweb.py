"""DICOMweb STOW-RS, driven by dicomweb-client's store_instances against a live server."""

from __future__ import annotations

import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from rest_framework.authtoken.models import Token

from sharing.models import Instance

pytestmark = pytest.mark.django_db(transaction=True)


def test_store_instances_pushes_an_exam_that_the_api_lists(live_server, staff, exam):
    token = Token.objects.create(user=staff).key
    client = DICOMwebClient(url=f"{live_server.url}/dicomweb", headers={"Authorization": f"Token {token}"})
    response = client.store_instances(datasets=[pydicom.dcmread(p) for p in exam])
    referenced = response.ReferencedSOPSequence
    assert {item.ReferencedSOPInstanceUID for item in referenced} == {pydicom.dcmread(p).SOPInstanceUID for p in exam}
    listing = requests.get(f"{live_server.url}/api/v1/studies/", headers={"Authorization": f"Token {token}"}).json()
    assert listing["count"] == 1 and listing["results"][0]["source"] == "dicomweb"


def test_stow_with_a_bad_part_reports_it_and_stores_the_rest(live_server, staff, exam):
    token = Token.objects.create(user=staff).key
    boundary = "XbOuNdArY"
    good = exam[0].read_bytes()
    body = (
        f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + good
        + f"\r\n--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + b"garbage" * 50
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = requests.post(
        f"{live_server.url}/dicomweb/studies", data=body,
        headers={"Authorization": f"Token {token}", "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}'},
    )
    assert response.status_code == 202
    payload = response.json()
    assert len(payload["00081199"]["Value"]) == 1
    assert len(payload["00081198"]["Value"]) == 1
    assert "not a DICOM file" in response.headers["Warning"]
    assert Instance.objects.count() == 1


def test_stow_needs_authentication(live_server, exam):
    response = requests.post(f"{live_server.url}/dicomweb/studies", data=b"x",
                             headers={"Content-Type": "multipart/related; boundary=x"})
    assert response.status_code in (401, 403)


def test_stow_refuses_other_media_types(live_server, staff):
    token = Token.objects.create(user=staff).key
    response = requests.post(f"{live_server.url}/dicomweb/studies", data=b"{}",
                             headers={"Authorization": f"Token {token}", "Content-Type": "application/json"})
    assert response.status_code == 415


def stow_body(paths, boundary="StUdYsCoPe"):
    body = b"".join(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + p.read_bytes() + b"\r\n"
                    for p in paths) + f"--{boundary}--\r\n".encode()
    return body, f'multipart/related; type="application/dicom"; boundary={boundary}'


def test_study_scoped_stow_stores_the_instances_of_that_study(live_server, staff, exam):
    token = Token.objects.create(user=staff).key
    study_uid = pydicom.dcmread(exam[0]).StudyInstanceUID
    client = DICOMwebClient(url=f"{live_server.url}/dicomweb", headers={"Authorization": f"Token {token}"})
    response = client.store_instances(datasets=[pydicom.dcmread(p) for p in exam], study_instance_uid=study_uid)
    assert len(response.ReferencedSOPSequence) == len(exam)
    assert Instance.objects.filter(study__study_instance_uid=study_uid).count() == len(exam)


def test_study_scoped_stow_refuses_an_instance_of_another_study(live_server, staff, exam, tmp_path):
    from tests.conftest import exam_with_patient

    token = Token.objects.create(user=staff).key
    study_uid = pydicom.dcmread(exam[0]).StudyInstanceUID
    (tmp_path / "other").mkdir()
    stranger = exam_with_patient(tmp_path / "other", count=1)[0]
    body, content_type = stow_body([exam[0], stranger, exam[1]])
    response = requests.post(f"{live_server.url}/dicomweb/studies/{study_uid}", data=body,
                             headers={"Authorization": f"Token {token}", "Content-Type": content_type})
    assert response.status_code == 202, "some stored, one refused (PS3.18 10.5.3)"
    payload = response.json()
    assert len(payload["00081199"]["Value"]) == 2
    [failed] = payload["00081198"]["Value"]
    stranger_ds = pydicom.dcmread(stranger)
    assert failed["00081155"]["Value"] == [stranger_ds.SOPInstanceUID], "the failed item names the refused instance"
    assert failed["00081150"]["Value"] == [stranger_ds.SOPClassUID]
    assert failed["00081197"]["Value"] == [0xC409], "Study Instance UID mismatch"
    assert "another study" in response.headers["Warning"]
    assert not Instance.objects.filter(sop_instance_uid=stranger_ds.SOPInstanceUID).exists(), "and it is not stored"

    only_stranger, content_type = stow_body([stranger])
    response = requests.post(f"{live_server.url}/dicomweb/studies/{study_uid}", data=only_stranger,
                             headers={"Authorization": f"Token {token}", "Content-Type": content_type})
    assert response.status_code == 409, "every instance refused"


def test_study_scoped_stow_route_takes_only_uids(live_server, staff):
    token = Token.objects.create(user=staff).key
    response = requests.post(f"{live_server.url}/dicomweb/studies/not-a-uid", data=b"x",
                             headers={"Authorization": f"Token {token}", "Content-Type": "multipart/related; boundary=x"})
    assert response.status_code == 404
