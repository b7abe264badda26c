"""Video transfer syntaxes (MPEG-2, H.264, HEVC) at every ingest door: C-STORE, STOW-RS, upload, API.

Each door stores the clip as received (standard clinic) after decoding its first frame; a stream
that does not decode is refused with a sentence, and nothing is stored for it.
"""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from django.urls import reverse
from dicomweb_client.api import DICOMwebClient
from pydicom import uid
from pynetdicom import AE
from pynetdicom.sop_class import UltrasoundMultiFrameImageStorage
from rest_framework.authtoken.models import Token

from anonymizer.video import VIDEO_SYNTAXES
from sharing.listener import ACCEPTED_TRANSFER_SYNTAXES, serve
from sharing.models import Instance
from tests.conftest import free_port, stored_files, upload_files
from tests.video_samples import VideoRecipe, video_dataset, write_video

RECIPES = {
    "h264-ts": VideoRecipe(str(uid.MPEG4HP41), "libx264", "mpegts"),
    "h264-mp4-fragmentable": VideoRecipe(str(uid.MPEG4HP422DF), "libx264", "mp4", fragments=3),
    "hevc-ts": VideoRecipe(str(uid.HEVCMP51), "libx265", "mpegts"),
    "mpeg2-ps": VideoRecipe(str(uid.MPEG2MPML), "mpeg2video", "vob"),
}


@pytest.fixture
def clips(tmp_path) -> dict[str, Path]:
    return {name: write_video(tmp_path / f"{name}.dcm", recipe) for name, recipe in RECIPES.items()}


def test_the_listener_offers_every_video_syntax():
    assert set(VIDEO_SYNTAXES) <= {str(s) for s in ACCEPTED_TRANSFER_SYNTAXES}
    assert len(VIDEO_SYNTAXES) == 16, "MPEG-2 MP@ML/MP@HL, H.264 x 5, their fragmentable variants, HEVC Main/Main 10"


@pytest.mark.django_db(transaction=True)
def test_c_store_accepts_video_clips(clinic, clips):
    clinic.accept_unknown_devices = True
    clinic.save()
    port = free_port()
    server = serve(host="127.0.0.1", port=port, ae_title="PORTAL", block=False)
    try:
        ae = AE(ae_title="CART")
        for recipe in RECIPES.values():
            ae.add_requested_context(UltrasoundMultiFrameImageStorage, recipe.syntax)
        assoc = ae.associate("127.0.0.1", port, ae_title="PORTAL")
        assert assoc.is_established
        try:
            statuses = {name: assoc.send_c_store(pydicom.dcmread(path)).Status for name, path in clips.items()}
        finally:
            assoc.release()
    finally:
        server.shutdown()
    assert statuses == dict.fromkeys(clips, 0x0000)
    stored = {i.transfer_syntax_uid for i in Instance.objects.all()}
    assert stored == {r.syntax for r in RECIPES.values()}, "stored as received, in its own syntax"


@pytest.mark.django_db(transaction=True)
def test_stow_rs_accepts_video_clips(live_server, staff, clips):
    token = Token.objects.create(user=staff).key
    client = DICOMwebClient(url=f"{live_server.url}/dicomweb", headers={"Authorization": f"Token {token}"})
    response = client.store_instances(datasets=[pydicom.dcmread(p) for p in clips.values()])
    assert len(response.ReferencedSOPSequence) == len(clips)
    assert Instance.objects.count() == len(clips)


def test_the_api_and_the_staff_upload_accept_video_clips(api, client, staff, clips):
    names = list(clips)
    response = upload_files(api, [clips[n] for n in names[:2]])
    assert response.status_code == 201 and response.json()["accepted"] == 2, response.content
    client.force_login(staff)
    handles = [open(clips[n], "rb") for n in names[2:]]
    try:
        page = client.post(reverse("upload"), {"files": handles})
    finally:
        for handle in handles:
            handle.close()
    assert page.status_code == 201 and page.json()["accepted"] == 2, page.content
    frames = {i.transfer_syntax_uid: i.number_of_frames for i in Instance.objects.all()}
    assert frames == {r.syntax: r.frames for r in RECIPES.values()}
    for instance in Instance.objects.all():  # the staff view shows each clip's first frame
        thumbnail = client.get(reverse("instance-thumbnail", args=[instance.study_id, instance.pk]))
        assert thumbnail.status_code == 200 and thumbnail["Content-Type"] == "image/jpeg", instance.transfer_syntax_uid


def test_a_video_whose_first_frame_does_not_decode_is_refused_with_a_sentence(api, tmp_path, settings):
    recipe = RECIPES["h264-ts"]
    ds = video_dataset(recipe, stream=b"\x47" + b"\x00" * 4000)  # a transport stream sync byte, then nothing
    ds.save_as(tmp_path / "broken.dcm", enforce_file_format=True)
    response = upload_files(api, [tmp_path / "broken.dcm"])
    rejected = response.json()["rejected"]
    assert len(rejected) == 1 and rejected[0]["reason"].startswith("the video cannot be played"), rejected
    assert "Error" not in rejected[0]["reason"], "staff read a sentence, not an exception name"
    assert Instance.objects.count() == 0 and stored_files(settings) == []


def test_a_video_whose_pictures_disagree_with_rows_and_columns_is_refused(api, tmp_path):
    ds = video_dataset(RECIPES["h264-ts"])
    ds.Rows = 480
    ds.save_as(tmp_path / "lying.dcm", enforce_file_format=True)
    rejected = upload_files(api, [tmp_path / "lying.dcm"]).json()["rejected"]
    assert rejected and "Rows and Columns say 320x480" in rejected[0]["reason"]


def test_a_strict_clinic_stores_the_clip_cleaned_in_its_own_family(strict_clinic, tmp_path, clips):
    from sharing.ingest import ingest_dicom_file

    instance, created = ingest_dicom_file(strict_clinic, clips["hevc-ts"], source="upload")
    assert created and instance.transfer_syntax_uid == str(uid.HEVCMP51)
    with instance.file.open("rb") as fh:
        stored = pydicom.dcmread(fh)
    assert stored.BurnedInAnnotation == "NO" and stored.NumberOfFrames == RECIPES["hevc-ts"].frames
    assert "ZQVIDEO" not in str(stored.PatientName)
    assert b"ZQVIDEO" not in stored.PixelData, "the container's metadata reached the store"
