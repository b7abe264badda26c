"""Every door enforces the same per-object limit (issue 16.2): C-STORE, STOW-RS, the staff upload
and the REST API each refuse an object of MAX_FILE_BYTES + 1 bytes, store nothing and leave no
temp file, and take one just under the limit. STOW-RS caps its parts as the form upload caps files.

A 624 MB file used to pass C-STORE and STOW-RS while the API refused it at 512 MiB.
"""

from __future__ import annotations

import os
from pathlib import Path

import pydicom
import pytest
import requests
from pynetdicom import AE
from pynetdicom.sop_class import UltrasoundMultiFrameImageStorage
from rest_framework.authtoken.models import Token

from sharing.models import Instance
from tests.conftest import stored_files, temp_files
from tests.security.doors import (
    FRAME_BYTES, object_of_size, received_size, send_api, send_stow, send_upload, staff_session, stow_body,
)
from tests.security.listener_process import ListenerProcess

pytestmark = pytest.mark.django_db(transaction=True)

SIZE = 2 * FRAME_BYTES + 6000  # a few PDUs' worth over the listener's 1 MiB PDU


@pytest.fixture
def objects(tmp_path):
    """`over` is MAX_FILE_BYTES + 1 bytes once the limit is SIZE - 1; `under` is 1 byte under it."""
    return object_of_size(tmp_path / "over.dcm", SIZE), object_of_size(tmp_path / "under.dcm", SIZE - 2)


def send(door: str, live_server, staff, path: Path):
    if door == "upload":
        return send_upload(staff_session(live_server.url, staff.username, "pw-" + staff.username), live_server.url, path)
    token = Token.objects.get_or_create(user=staff)[0].key
    return (send_api if door == "api" else send_stow)(live_server.url, token, path)


@pytest.mark.parametrize("door", ["api", "upload", "stow"])
def test_an_object_one_byte_over_the_limit_is_refused_at_every_web_door(door, live_server, staff, objects, settings):
    settings.MAX_FILE_BYTES = SIZE - 1
    over, under = objects
    response = send(door, live_server, staff, over)
    if door == "stow":
        assert response.status_code == 409, response.text
        failure = response.json()["00081198"]["Value"][0]
        assert failure["00081197"]["Value"] == [0xA700], "refused as out of resources, as C-STORE is"
        assert "larger than" in response.headers["Warning"]
    else:
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["accepted"] == 0 and "larger than" in body["rejected"][0]["reason"]
    assert Instance.objects.count() == 0 and stored_files(settings) == [], "nothing of it is stored"
    assert temp_files(settings) == [], "no temp file of it stays behind"

    response = send(door, live_server, staff, under)
    assert response.status_code in (200, 201), response.text
    assert Instance.objects.count() == 1, "an object under the same limit goes in through the same door"


@pytest.mark.worker
def test_an_object_one_byte_over_the_limit_is_refused_by_c_store(clinic, objects, tmp_path):
    clinic.accept_unknown_devices = True
    clinic.save()
    over, under = objects
    limit = received_size(over) - 1
    assert received_size(under) == limit - 1
    listener = ListenerProcess(tmp_path / "listener.log", MAX_FILE_BYTES=limit).start()
    receive_dir = Path(os.environ["DATA_DIR"]) / "tmp" / "dicom-receive"
    try:
        ae = AE(ae_title="US_ROOM_1")
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 60
        ae.add_requested_context(UltrasoundMultiFrameImageStorage, pydicom.uid.ExplicitVRLittleEndian)
        assoc = ae.associate("127.0.0.1", listener.port, ae_title="PORTAL")
        assert assoc.is_established
        try:
            refused = assoc.send_c_store(pydicom.dcmread(over)).get("Status")
            assert refused == 0xA700, "over the limit: DICOM's 'out of resources', the sender keeps its copy"
            assert Instance.objects.count() == 0
            assert list(receive_dir.iterdir()) == [], "the refused object's bytes were not kept"
            # Far over the limit, the object is dropped while it streams (no longer written to disk).
            far_over = object_of_size(tmp_path / "far-over.dcm", 3 * SIZE)
            assert assoc.send_c_store(pydicom.dcmread(far_over)).get("Status") == 0xA700
            assert list(receive_dir.iterdir()) == []
            accepted = assoc.send_c_store(pydicom.dcmread(under)).get("Status")
            assert accepted == 0x0000, "under the same limit the object is stored"
        finally:
            assoc.release()
    finally:
        listener.stop()
    assert Instance.objects.count() == 1
    assert "larger than" in listener.log() and "PID-4711" not in listener.log()


def test_stow_refuses_more_parts_than_the_form_upload_allows(live_server, staff, objects, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3
    _, under = objects
    _, content_type = stow_body(under)
    one_part = under.read_bytes()
    head = "--PoRtAlDoOrS\r\nContent-Type: application/dicom\r\n\r\n".encode()
    payload = b"".join(head + one_part + b"\r\n" for _ in range(4)) + b"--PoRtAlDoOrS--\r\n"
    token = Token.objects.get_or_create(user=staff)[0].key
    response = requests.post(f"{live_server.url}/dicomweb/studies", data=payload, timeout=60,
                             headers={"Authorization": f"Token {token}", "Content-Type": content_type})
    assert response.status_code == 413, response.text
    assert "more than 3 files" in response.json()["error"]
    assert Instance.objects.count() == 0 and temp_files(settings) == [], "nothing of the request is kept"
