"""S3-compatible storage through django-storages, against moto's S3 server on loopback: exams
land in the bucket under random names, the pipeline reads them from there and publishes the
patient's previews there, and the landing page serves them. Nothing is written to local media."""

from __future__ import annotations

import io
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest
from django.core import mail

from sharing.models import Instance, Share
from tests.conftest import free_port, stored_files, upload_files
from tests.ops.conftest import Service
from tests.sharing.conftest import IDENTIFIERS, link_from, run_pipeline

pytestmark = pytest.mark.django_db

BUCKET = "portal-media"


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory):
    """moto's S3 server in its own process group; stopped even when a test fails."""
    port = free_port()
    server = Service(
        "moto", [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        env={"PATH": "/usr/bin:/bin"}, log_dir=tmp_path_factory.mktemp("moto"),
    )
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(endpoint + "/moto-api/", timeout=2).close()
                break
            except OSError:
                assert server.process.poll() is None and time.monotonic() < deadline, server.log()[-2000:]
                time.sleep(0.2)
        yield endpoint
    finally:
        server.stop()
    assert server.process.poll() is not None, "the moto server was stopped"


@pytest.fixture
def s3(moto_endpoint, settings, monkeypatch):
    """Django's default storage on a fresh bucket of the moto server; returns a boto3 client."""
    import boto3

    for name, value in {"AWS_ACCESS_KEY_ID": "moto", "AWS_SECRET_ACCESS_KEY": "moto", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {"bucket_name": BUCKET, "endpoint_url": moto_endpoint, "region_name": "us-east-1",
                        "default_acl": None, "querystring_auth": True, "file_overwrite": False},
        },
    }
    yield client
    for key in bucket_keys(client):
        client.delete_object(Bucket=BUCKET, Key=key)
    client.delete_bucket(Bucket=BUCKET)


def bucket_keys(client) -> list[str]:
    return [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def bucket_object(client, key: str) -> bytes:
    return client.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def assert_names_carry_no_identifier(keys: list[str], exam: list[Path]) -> None:
    for key in keys:
        for identifier in [*IDENTIFIERS, *(p.stem for p in exam), "1.2.", "exam"]:
            assert identifier.upper() not in key.upper(), f"object name {key!r} carries {identifier!r}"


def test_ingested_exam_lands_in_the_bucket_under_random_names(s3, api, exam, settings):
    response = upload_files(api, exam)
    assert response.status_code == 201 and response.json()["accepted"] == len(exam), response.content
    keys = bucket_keys(s3)
    instances = Instance.objects.all()
    assert sorted(keys) == sorted(i.file.name for i in instances), "each instance is one object in the bucket"
    assert_names_carry_no_identifier(keys, exam)
    for instance, path in zip(instances.order_by("instance_number"), exam):
        assert bucket_object(s3, instance.file.name) == path.read_bytes(), "the bucket holds the file as received"
    assert stored_files(settings) == [], "nothing is written to local media when storage is S3"


def test_staff_thumbnail_is_rendered_from_the_bucket_and_kept_there(s3, api, exam, staff, client):
    upload_files(api, exam)
    instance = Instance.objects.order_by("instance_number").first()
    client.force_login(staff)
    response = client.get(f"/studies/{instance.study_id}/instances/{instance.pk}/thumbnail.jpg")
    assert response.status_code == 200
    assert b"".join(response.streaming_content if response.streaming else [response.content])[:2] == b"\xff\xd8"
    instance.refresh_from_db()
    assert instance.thumbnail.name in bucket_keys(s3), "the staff thumbnail is kept in the bucket"


def test_share_pipeline_reads_the_bucket_and_the_landing_page_serves_from_it(s3, api, exam, client, settings):
    study_id = upload_files(api, exam).json()["studies"][0]["id"]
    response = api.post("/api/v1/shares/", {"study": study_id, "email": "jane.patient@example.org"}, format="json")
    share = run_pipeline(Share.objects.get(pk=response.json()["id"]))
    assert share.status == "sent", share.error
    items = list(share.items.all())
    assert items and any(i.kind == "clip" for i in items) and any(i.kind == "image" for i in items)
    keys = set(bucket_keys(s3))
    for item in items:
        for field in (item.media, item.thumbnail, item.poster):
            if field:
                assert field.name in keys, "the patient's previews are published to the bucket"
    assert_names_carry_no_identifier(sorted(keys), exam)

    path = "/" + link_from(mail.outbox[0].body).split("/", 3)[3]
    page = client.get(path)
    assert page.status_code == 200
    html = page.content.decode()
    for item in items:
        variants = ["media", "thumb"] + (["poster"] if item.poster else [])
        for variant in variants:
            url = f"{path}/a/{item.pk}/{variant}"
            assert url in html or variant != "thumb" or item.kind != "image", f"the page links {variant} of {item.kind}"
            served = client.get(url)
            assert served.status_code == 200, url
            content = b"".join(served.streaming_content)
            field = item.media if variant == "media" else (item.thumbnail if variant == "thumb" else item.poster)
            assert content == bucket_object(s3, field.name), f"{variant} of {item.kind} is the bucket's object"
            assert int(served["Content-Length"]) == len(content)
            if variant == "media" and item.kind == "clip":
                assert served["Content-Type"] == "video/mp4" and content[4:8] == b"ftyp"
            else:
                assert served["Content-Type"] == "image/jpeg" and content[:2] == b"\xff\xd8"

    archive = client.get(f"{path}/ultrasound.zip")
    assert archive.status_code == 200
    with zipfile.ZipFile(io.BytesIO(b"".join(archive.streaming_content))) as zf:
        assert len(zf.namelist()) == len(items)
        assert sorted(zf.read(n) for n in zf.namelist()) == sorted(bucket_object(s3, i.media.name) for i in items)
    assert stored_files(settings) == [], "nothing is written to local media when storage is S3"


def test_readiness_probes_the_bucket(s3, client, settings):
    data = client.get("/readyz").json()
    assert data["checks"]["storage"]["ok"] is True
    assert bucket_keys(s3) == [], "the probe deletes its object"

    settings.STORAGES = {**settings.STORAGES, "default": {
        **settings.STORAGES["default"], "OPTIONS": {**settings.STORAGES["default"]["OPTIONS"], "bucket_name": "no-such-bucket"}}}
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["checks"]["storage"]["ok"] is False
    assert "no-such-bucket" not in response.content.decode()
