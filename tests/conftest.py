"""Shared fixtures: clinics and staff, API clients, sample exams from pydicom's bundled files."""

from __future__ import annotations

import io
import shutil
import socket
from pathlib import Path

import pydicom
import pytest
from django.contrib.auth import get_user_model
from pydicom.data import get_testdata_file
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

US_FILES = ["examples_ybr_color.dcm", "examples_palette.dcm", "examples_rgb_color.dcm", "examples_jpeg2k.dcm"]


@pytest.fixture(autouse=True)
def isolated_media(settings, tmp_path):
    """Each test stores files under its own folder, so 'nothing left behind' can be checked."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "upload-tmp")
    Path(settings.FILE_UPLOAD_TEMP_DIR).mkdir()
    return tmp_path


def stored_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def temp_files(settings) -> list[Path]:
    return [p for p in Path(settings.FILE_UPLOAD_TEMP_DIR).rglob("*") if p.is_file()]


def make_clinic(slug: str, **fields):
    from sharing.models import Clinic

    return Clinic.objects.create(name=slug.title(), slug=slug, **fields)


def make_staff(username: str, *clinics):
    from sharing.models import Membership

    user = get_user_model().objects.create_user(username=username, password="pw-" + username)
    for clinic in clinics:
        Membership.objects.create(user=user, clinic=clinic)
    return user


@pytest.fixture
def clinic(db):
    return make_clinic("north")


@pytest.fixture
def other_clinic(db):
    return make_clinic("south")


@pytest.fixture
def strict_clinic(db):
    from sharing.models import Clinic

    return make_clinic("strict", mode=Clinic.Mode.STRICT)


@pytest.fixture
def staff(clinic):
    return make_staff("alice", clinic)


@pytest.fixture
def other_staff(other_clinic):
    return make_staff("bob", other_clinic)


@pytest.fixture
def api(staff):
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=staff)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def other_api(other_staff):
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=other_staff)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def us_paths() -> list[Path]:
    return [Path(get_testdata_file(name)) for name in US_FILES]


def exam_with_patient(tmp_path: Path, *, name="DOE^JANE", patient_id="PID-4711", study_uid=None, count=2) -> list[Path]:
    """An exam of `count` US instances with a known patient, built from pydicom's bundled US files."""
    from pydicom.uid import generate_uid

    study_uid = study_uid or generate_uid()
    series_uid = generate_uid()
    out = []
    sources = [get_testdata_file(n) for n in US_FILES]
    for index in range(count):
        ds = pydicom.dcmread(sources[index % len(sources)])
        ds.PatientName = name
        ds.PatientID = patient_id
        ds.PatientBirthDate = "19870615"
        ds.PatientSex = "F"
        ds.StudyDate = "20240312"
        ds.StudyDescription = "OB 2nd trimester"
        ds.OperatorsName = "SONO^SAM"
        ds.PerformingPhysicianName = "DOC^DANA"
        ds.InstitutionName = "North Clinic"
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = index + 1
        path = tmp_path / f"exam-{study_uid[-6:]}-{index}.dcm"
        ds.save_as(path, enforce_file_format=True)
        out.append(path)
    return out


@pytest.fixture
def exam(tmp_path) -> list[Path]:
    return exam_with_patient(tmp_path / "exam" if (tmp_path / "exam").mkdir() is None else tmp_path)


def upload_files(api_client, paths, url="/api/v1/studies/", extra=None):
    files = [open(p, "rb") for p in paths]
    try:
        return api_client.post(url, {"files": files, **(extra or {})}, format="multipart")
    finally:
        for f in files:
            f.close()


def named_bytes(name: str, data: bytes):
    buffer = io.BytesIO(data)
    buffer.name = name
    return buffer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def chromium_path() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(path).exists(), "Debian's chromium is required for browser tests (make test installs it)"
    return path
