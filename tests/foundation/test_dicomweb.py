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
