"""Bad files at every door: a clear reason per file, the good files still go in, the server stays
up (a following good request succeeds), and no row, stored file or temp copy of a bad file stays.

Doors: POST /api/v1/studies/, the staff upload /upload/, STOW-RS /dicomweb/studies (against a
live server) and C-STORE (a real listener, with pynetdicom sending the damaged bytes as they are).
Request-size limits while streaming are in test_streaming_limit.py.
"""

from __future__ import annotations

import pydicom
import pytest
from pynetdicom import AE, _config as pynetdicom_config

from sharing.listener import serve
from sharing.models import Instance
from tests.sharing.ingest import bad_samples as samples
from tests.conftest import free_port, named_bytes, stored_files, temp_files

# name -> (builder, a phrase the sender's reason must contain)
BAD_FILES = {
    "random bytes": (samples.random_bytes, "not a DICOM file"),
    "truncated": (samples.truncated, "truncated"),
    "wrong VR (Rows labelled DS)": (samples.wrong_vr_rows, "wrong VR"),
    "wrong VR (not a VR)": (samples.wrong_vr_not_a_vr, "wrong VR"),
    "huge declared length": (samples.huge_declared_length, "declares 4294967280 bytes"),
    "65535x65535 image": (samples.huge_image, "65535x65535 is larger than the portal accepts"),
    "NumberOfFrames above the native data": (samples.frames_more_than_data, "NumberOfFrames disagrees"),
    "NumberOfFrames below the native data": (samples.frames_fewer_than_data, "more frames than NumberOfFrames"),
    "NumberOfFrames above the JPEG fragments": (lambda: samples.encapsulated_us(declared_frames=40), "NumberOfFrames (40) disagrees"),
    "NumberOfFrames below the JPEG fragments": (lambda: samples.encapsulated_us(declared_frames=2), "NumberOfFrames (2) disagrees"),
    "empty": (lambda: b"", "empty"),
}


def assert_nothing_of_the_bad_file_stayed(settings, good_instances: int):
    assert Instance.objects.count() == good_instances, "a bad file left a row behind"
    assert len(stored_files(settings)) == good_instances, "a bad file left a stored file behind"
    assert temp_files(settings) == [], "a temp copy stayed behind"


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(BAD_FILES))
def test_api_refuses_the_bad_file_and_takes_the_good_one(api, exam, settings, case):
    build, reason = BAD_FILES[case]
    response = api.post("/api/v1/studies/", {"files": [named_bytes("bad.dcm", build()), open(exam[0], "rb")]}, format="multipart")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["accepted"] == 1, "the good file in the same request still goes in"
    assert [r["file"] for r in body["rejected"]] == ["bad.dcm"]
    assert reason in body["rejected"][0]["reason"], body["rejected"]
    assert_nothing_of_the_bad_file_stayed(settings, 1)
    following = api.post("/api/v1/studies/", {"files": [open(exam[1], "rb")]}, format="multipart")
    assert following.status_code == 201 and following.json()["accepted"] == 1, "the next good request succeeds"


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(BAD_FILES))
def test_staff_upload_refuses_the_bad_file_and_takes_the_good_one(client, staff, exam, settings, case):
    build, reason = BAD_FILES[case]
    client.force_login(staff)
    response = client.post("/upload/", {"files": [named_bytes("bad.dcm", build()), open(exam[0], "rb")]})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["accepted"] == 1
    assert [r["file"] for r in body["rejected"]] == ["bad.dcm"] and reason in body["rejected"][0]["reason"]
    assert_nothing_of_the_bad_file_stayed(settings, 1)
    assert client.post("/upload/", {"files": [open(exam[1], "rb")]}).json()["accepted"] == 1


# ZIPs go in through the two multipart doors; STOW-RS and C-STORE carry single instances.
BAD_ZIPS = {
    "zip bomb (declared sizes)": (samples.zip_bomb, "zip bomb"),
    "zip bomb (sizes that lie)": (samples.zip_bomb_lying_sizes, "corrupt ZIP entry"),
    "nested zip bomb": (samples.nested_zip_bomb, "nested ZIP archives are not supported"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("door", ["/api/v1/studies/", "/upload/"])
@pytest.mark.parametrize("case", list(BAD_ZIPS))
def test_zip_bombs_are_refused_without_expanding(api, client, staff, exam, settings, door, case):
    settings.MAX_ZIP_EXPANDED_BYTES = 50 * 1024 * 1024
    build, reason = BAD_ZIPS[case]
    bomb = build()
    assert len(bomb) < 1024 * 1024, "the bomb is small on the wire"
    sender = api if door.startswith("/api/") else client
    client.force_login(staff)
    response = sender.post(door, {"files": [named_bytes("bomb.zip", bomb), open(exam[0], "rb")]}, format="multipart") \
        if sender is api else sender.post(door, {"files": [named_bytes("bomb.zip", bomb), open(exam[0], "rb")]})
    assert response.status_code == 201
    body = response.json()
    assert body["accepted"] == 1, "the good file beside the bomb still goes in"
    assert body["rejected"] and all(r["file"].startswith("bomb.zip") for r in body["rejected"])
    assert any(reason in r["reason"] for r in body["rejected"]), body["rejected"]
    assert_nothing_of_the_bad_file_stayed(settings, 1)


@pytest.mark.django_db
@pytest.mark.parametrize("door", ["/api/v1/studies/", "/upload/"])
def test_zip_path_traversal_is_refused_per_entry(api, client, staff, exam, settings, tmp_path, door):
    archive = samples.traversal_zip(exam[0].read_bytes())
    client.force_login(staff)
    if door.startswith("/api/"):
        response = api.post(door, {"files": [named_bytes("evil.zip", archive)]}, format="multipart")
    else:
        response = client.post(door, {"files": [named_bytes("evil.zip", archive)]})
    body = response.json()
    assert body["accepted"] == 1, "the entry with a safe name goes in"
    assert sorted(r["file"] for r in body["rejected"]) == ["evil.zip/../../etc/evil.dcm", "evil.zip//abs/evil.dcm", "evil.zip/C:\\evil.dcm"]
    assert {r["reason"] for r in body["rejected"]} == {"path traversal in ZIP entry name"}
    assert not (tmp_path.parent / "etc").exists() and not list(tmp_path.rglob("evil.dcm")), "nothing was written outside"
    assert_nothing_of_the_bad_file_stayed(settings, 1)


@pytest.mark.django_db
def test_staff_upload_without_files_is_a_clear_400(client, staff):
    client.force_login(staff)
    response = client.post("/upload/", {})
    assert response.status_code == 400
    assert "Choose one or more DICOM files" in response.json()["error"]


# STOW-RS (the live-server round trip is in tests/sharing/ingest/test_dicomweb.py and the streaming limit tests).

def stow(api, *parts: bytes, boundary="BaDiNpUt"):
    body = b"".join(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + part + b"\r\n" for part in parts)
    body += f"--{boundary}--\r\n".encode()
    return api.generic("POST", "/dicomweb/studies", body, content_type=f'multipart/related; type="application/dicom"; boundary={boundary}')


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(BAD_FILES))
def test_stow_refuses_the_bad_part_and_stores_the_good_one(api, exam, settings, case):
    build, reason = BAD_FILES[case]
    response = stow(api, build(), exam[0].read_bytes())
    assert response.status_code == 202, (response.status_code, response.content)
    payload = response.json()
    assert len(payload["00081199"]["Value"]) == 1 and len(payload["00081198"]["Value"]) == 1
    assert reason in response.headers["Warning"], response.headers["Warning"]
    assert_nothing_of_the_bad_file_stayed(settings, 1)
    assert stow(api, exam[1].read_bytes()).status_code == 200, "the next good request succeeds"


@pytest.mark.django_db
def test_stow_with_an_empty_body_is_a_clear_400(api):
    response = api.generic("POST", "/dicomweb/studies", b"", content_type='multipart/related; type="application/dicom"; boundary=x')
    assert response.status_code == 400 and "no DICOM parts" in response.json()["error"]


# C-STORE, through a real listener; pynetdicom sends the data set bytes of the file as they are.

@pytest.fixture
def listener(clinic):
    clinic.accept_unknown_devices = True
    clinic.save()
    port = free_port()
    server = serve(host="127.0.0.1", port=port, ae_title="PORTAL", block=False)
    yield port
    server.shutdown()


def cstore_file(tmp_path, data: bytes):
    """A file whose meta is intact and whose data set bytes are damaged, as a broken encoder sends them.

    Samples without a file meta (random bytes, empty) get a good one in front.
    """
    from sharing.ingest.validation import dataset_start

    if data[128:132] != b"DICM":
        good = tmp_path / "good-meta.dcm"
        good.write_bytes(samples.native_us())
        data = good.read_bytes()[: dataset_start(good)] + data
    path = tmp_path / "bad.dcm"
    path.write_bytes(data)
    return path


@pytest.mark.django_db(transaction=True)
def test_cstore_answers_failure_for_each_bad_object_and_success_for_the_next(listener, settings, tmp_path, monkeypatch):
    """One association, as a modality would hold it: every bad object fails alone, each good one after it is stored."""
    monkeypatch.setattr(pynetdicom_config, "STORE_SEND_CHUNKED_DATASET", True)
    ae = AE(ae_title="BAD_SCU")
    ae.add_requested_context(samples.US_MULTIFRAME, pydicom.uid.ExplicitVRLittleEndian)
    ae.add_requested_context(samples.US_MULTIFRAME, pydicom.uid.JPEGBaseline8Bit)
    assoc = ae.associate("127.0.0.1", listener, ae_title="PORTAL")
    assert assoc.is_established
    stored = 0
    try:
        for case in BAD_FILES:
            bad = cstore_file(tmp_path, BAD_FILES[case][0]())
            status = assoc.send_c_store(bad)
            assert status and status.Status == 0xC000, f"{case}: the bad object gets 'cannot understand', not {status}"
            assert Instance.objects.count() == stored, f"{case}: a row was stored"
            assert len(stored_files(settings)) == stored and temp_files(settings) == [], f"{case}: a file stayed behind"
            good = tmp_path / "good.dcm"
            good.write_bytes(samples.native_us())
            assert assoc.send_c_store(good).Status == 0x0000, f"{case}: the listener no longer stores a good object"
            stored += 1
    finally:
        assoc.release()
    assert Instance.objects.count() == stored == len(BAD_FILES)
