"""A video clip (H.264 in DICOM) shared with a patient: the pipeline, in-process, as the worker runs it."""

from __future__ import annotations

import av
import pytest
from pydicom import uid

from sharing.models import Share, Study
from tests.conftest import upload_files
from tests.sharing.conftest import run_pipeline
from tests.video_samples import BANNER_ROWS, MARKER, VideoRecipe, write_video

pytestmark = pytest.mark.django_db


def test_a_shared_video_reaches_the_patient_cleaned_as_an_mp4(api, tmp_path):
    recipe = VideoRecipe(str(uid.MPEG4HP41), "libx264", "mpegts", audio=True)
    response = upload_files(api, [write_video(tmp_path / "clip.dcm", recipe)])
    assert response.status_code == 201 and response.json()["accepted"] == 1, response.content
    study = Study.objects.get(pk=response.json()["studies"][0]["id"])
    created = api.post("/api/v1/shares/", {"study": study.pk, "email": "pat@example.org"}, format="json")
    share = run_pipeline(Share.objects.get(pk=created.json()["id"]))
    assert share.status == "sent", share.error
    item = share.items.get()
    assert item.kind == "clip" and item.frames == recipe.frames
    with item.media.open("rb") as fh:
        data = fh.read()
    assert MARKER.encode() not in data, "the patient's marker reached the MP4"
    with item.media.open("rb") as fh, av.open(fh) as container:
        assert not container.streams.audio, "the sound track reached the patient"
        frames = [f.to_ndarray(format="gray") for f in container.decode(video=0)]
    assert len(frames) == recipe.frames
    assert max(int(f[:BANNER_ROWS].max()) for f in frames) <= 24, "burned-in text reached the patient"
