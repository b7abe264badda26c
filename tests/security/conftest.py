"""Two clinics with a study, a share and an exclusion each: what isolation and headers probe."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client

from sharing.models import Share, ShareExclusion, ShareToken, Study
from sharing.shares import service
from sharing.shares.tokens import hash_token
from tests.conftest import exam_with_patient, upload_files


@dataclass
class ClinicWorld:
    """One clinic's objects as its own staff sees them."""

    study: Study
    share: Share
    exclusion: ShareExclusion

    @property
    def instance_id(self) -> int:
        return self.study.instances.order_by("id").first().pk


def build_world(api_client, user, tmp_path, *, name: str, patient_id: str) -> ClinicWorld:
    folder = tmp_path / patient_id
    folder.mkdir()
    response = upload_files(api_client, exam_with_patient(folder, name=name, patient_id=patient_id, count=1))
    assert response.status_code == 201, response.content
    study = Study.objects.get(pk=response.json()["studies"][0]["id"])
    share = service.create_share(service.ShareRequest(study=study, email="patient@example.org"), user=user)
    exclusion = ShareExclusion.objects.create(
        share=share, instance=study.instances.order_by("id").first(), reason="burned-in text", acceptable=True,
    )
    return ClinicWorld(study=study, share=share, exclusion=exclusion)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Sign-in tests hash many passwords; the hasher is not what they test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def north(api, staff, tmp_path) -> ClinicWorld:
    return build_world(api, staff, tmp_path, name="DOE^JANE", patient_id="PID-4711")


@pytest.fixture
def south(other_api, other_staff, tmp_path) -> ClinicWorld:
    return build_world(other_api, other_staff, tmp_path, name="ROE^RICHARD", patient_id="PID-9999")


@pytest.fixture
def staff_client(staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def add_link(share: Share, token: str) -> str:
    """Give a share a link token we know (the real one only ever travels in the message)."""
    ShareToken.objects.create(share=share, token_hash=hash_token(token))
    return f"/p/{token}"
