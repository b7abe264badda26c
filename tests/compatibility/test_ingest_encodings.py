"""Every encoding is accepted by ingest, stored as received by a standard clinic and anonymized on
arrival by a strict clinic (issue 10: both profiles, ingest and previews)."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from sharing.models import Instance
from tests.conftest import make_staff, stored_files, upload_files

from .device_samples import MARKER_NAME, SAMPLES, build_sample

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore::UserWarning")]


@pytest.fixture
def device_files(tmp_path):
    return [build_sample(sample, tmp_path / f"{sample.name}.dcm") for sample in SAMPLES]


def test_a_standard_clinic_accepts_every_encoding(api, device_files):
    body = upload_files(api, device_files).json()
    assert body["rejected"] == [] and body["accepted"] == len(SAMPLES), body["rejected"]


def test_a_strict_clinic_anonymizes_every_encoding_on_arrival(strict_clinic, device_files, settings):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=make_staff('carol', strict_clinic)).key}")
    body = upload_files(client, device_files).json()
    assert body["rejected"] == [] and body["accepted"] == len(SAMPLES), body["rejected"]
    assert Instance.objects.filter(clinic=strict_clinic, pixels_verified=True).count() == len(SAMPLES), \
        "every sample has a region: its pixels were cleaned on arrival"
    name = MARKER_NAME.split("^")[0].encode()
    assert not [p for p in stored_files(settings) if name in p.read_bytes()], "a strict clinic stored a name"
