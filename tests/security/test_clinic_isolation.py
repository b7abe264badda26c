"""Clinic isolation: a clinic's staff cannot read, share, revoke or even detect another clinic's
studies. Every staff view and API endpoint that takes an id answers a foreign id exactly as it
answers an id that does not exist (same status, same body), and changes nothing."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Callable

import pytest
from django.test import Client
from rest_framework.test import APIClient

from sharing.models import Share, ShareExclusion, Study
from tests.conftest import exam_with_patient, upload_files

pytestmark = pytest.mark.django_db

MISSING = 10**9  # an id no row has


@dataclass
class Probe:
    """One endpoint: how to call it for a target (own objects, foreign objects, or missing ids)."""

    name: str
    method: str
    url: Callable  # (target) -> path, where target is a dict of ids
    api: bool = False
    data: Callable | None = None  # (target) -> body

    def call(self, staff_client: Client, api: APIClient, target: dict):
        client = api if self.api else staff_client
        body = self.data(target) if self.data else None
        if self.method == "get":
            return client.get(self.url(target))
        if self.api:
            return client.post(self.url(target), body or {}, format="json")
        return client.post(self.url(target), body or {})


EMAIL = {"email": "someone@example.org"}
PROBES = [
    Probe("study detail", "get", lambda t: f"/studies/{t['study']}/"),
    Probe("share create", "post", lambda t: f"/studies/{t['study']}/share/", data=lambda t: EMAIL),
    Probe("thumbnail", "get", lambda t: f"/studies/{t['study']}/instances/{t['instance']}/thumbnail.jpg"),
    Probe("thumbnail, own study, other instance", "get",
          lambda t: f"/studies/{t['own_study']}/instances/{t['instance']}/thumbnail.jpg"),
    Probe("revoke", "post", lambda t: f"/shares/{t['share']}/revoke/"),
    Probe("resend", "post", lambda t: f"/shares/{t['share']}/resend/", data=lambda t: EMAIL),
    Probe("progress", "get", lambda t: f"/shares/{t['share']}/progress/"),
    Probe("accept exclusion", "post", lambda t: f"/shares/{t['share']}/exclusions/{t['exclusion']}/accept/"),
    Probe("accept exclusion, own share, other exclusion", "post",
          lambda t: f"/shares/{t['own_share']}/exclusions/{t['exclusion']}/accept/"),
    Probe("API study detail", "get", lambda t: f"/api/v1/studies/{t['study']}/", api=True),
    Probe("API share create", "post", lambda t: "/api/v1/shares/", api=True,
          data=lambda t: {"study": t["study"], **EMAIL}),
    Probe("API share create, own study, other instances", "post", lambda t: "/api/v1/shares/", api=True,
          data=lambda t: {"study": t["own_study"], "instances": [t["instance"]], **EMAIL}),
    Probe("API share retrieve", "get", lambda t: f"/api/v1/shares/{t['share']}/", api=True),
    Probe("API share revoke", "post", lambda t: f"/api/v1/shares/{t['share']}/revoke/", api=True),
    Probe("API share resend", "post", lambda t: f"/api/v1/shares/{t['share']}/resend/", api=True, data=lambda t: EMAIL),
]


def targets(north, south) -> dict[str, dict]:
    own = {"own_study": north.study.pk, "own_share": north.share.pk}
    return {
        "own": {**own, "study": north.study.pk, "instance": north.instance_id, "share": north.share.pk,
                "exclusion": north.exclusion.pk},
        "foreign": {**own, "study": south.study.pk, "instance": south.instance_id, "share": south.share.pk,
                    "exclusion": south.exclusion.pk},
        "missing": {**own, "study": MISSING, "instance": MISSING, "share": MISSING, "exclusion": MISSING},
    }


def normalized(response, ids) -> tuple:
    """Status, type and body with the probed ids blanked (a body naming the id it was given is no oracle)."""
    body = response.content.decode(errors="replace")
    body = re.sub(r'(name="csrfmiddlewaretoken" value|data-csrf)="[^"]*"', r'\1=""', body)  # masked per response
    for value in sorted({str(v) for v in ids}, key=len, reverse=True):
        body = re.sub(rf"\b{value}\b", "<id>", body)
    return response.status_code, response.get("Content-Type"), body


def state_of(world) -> dict:
    """Everything a foreign request could change about a clinic's share."""
    share = Share.objects.get(pk=world.share.pk)
    return {
        "share": (share.revoked_at, share.generation, share.status, share.delivery_secret, share.tokens.count()),
        "shares": Share.objects.filter(study=world.study).count(),
        "exclusion": ShareExclusion.objects.get(pk=world.exclusion.pk).accepted_at,
    }


@pytest.mark.parametrize("probe", PROBES, ids=[p.name for p in PROBES])
def test_a_foreign_id_is_answered_like_a_missing_one(probe, north, south, staff_client, api):
    before = state_of(south)
    t = targets(north, south)
    foreign = probe.call(staff_client, api, t["foreign"])
    missing = probe.call(staff_client, api, t["missing"])
    foreign_ids = set(t["foreign"].values()) - {north.study.pk, north.share.pk}
    assert foreign.status_code in (400, 404), f"{probe.name}: a foreign id got {foreign.status_code}"
    assert normalized(foreign, foreign_ids) == normalized(missing, {MISSING}), (
        f"{probe.name}: a foreign id is answered differently from a missing one (an existence oracle)"
    )
    assert state_of(south) == before, f"{probe.name}: a foreign request changed the other clinic's share"

    # The same call on the caller's own objects works: the 404 above is isolation, not a bad route.
    own = probe.call(staff_client, api, t["own"])
    assert own.status_code in (200, 202, 302), f"{probe.name}: own objects got {own.status_code}"


def test_study_list_and_search_show_only_the_callers_clinic(north, south, staff_client):
    for tab in ("studies", "patients"):
        page = staff_client.get("/studies/", {"tab": tab}).content.decode()
        assert "PID-4711" in page, f"{tab}: the clinic's own patient is listed"
        assert "PID-9999" not in page and "RICHARD" not in page.upper(), f"{tab}: another clinic's patient shows"
    foreign = staff_client.get("/studies/", {"q": "ROE^RICHARD"})
    missing = staff_client.get("/studies/", {"q": "NOBODY^ATALL"})
    assert foreign.status_code == missing.status_code == 200
    assert normalized(foreign, set())[2].replace("ROE^RICHARD", "Q") == normalized(missing, set())[2].replace("NOBODY^ATALL", "Q"), (
        "searching for another clinic's patient differs from searching for nobody"
    )
    pid = staff_client.get("/studies/", {"q": "PID-9999"}).content.decode()
    assert f"/studies/{south.study.pk}/" not in pid


def test_api_study_list_and_search_show_only_the_callers_clinic(north, south, api):
    listed = api.get("/api/v1/studies/").json()
    assert [s["id"] for s in listed["results"]] == [north.study.pk]
    for term in ("ROE", "PID-9999"):
        assert api.get("/api/v1/studies/", {"search": term}).json() == {"count": 0, "next": None, "previous": None, "results": []}


@pytest.mark.parametrize("door", ["api", "upload", "dicomweb"])
def test_uploading_into_another_clinic_is_answered_like_a_missing_clinic(door, north, south, staff_client, api, tmp_path):
    """A foreign clinic slug gets what a clinic that does not exist gets, and nothing is stored."""
    exam = exam_with_patient(tmp_path / "intruder" if (tmp_path / "intruder").mkdir() is None else tmp_path,
                             name="INTRUDER^IVAN", patient_id="PID-0000")

    def send(slug):
        if door == "api":
            return upload_files(api, exam, extra={"clinic": slug})
        if door == "upload":
            return upload_files(staff_client, exam, url="/upload/", extra={"clinic": slug})
        return stow(api, exam, slug)

    foreign, missing = send("south"), send("no-such-clinic")
    assert foreign.status_code in (400, 403, 404)
    assert normalized(foreign, set()) == normalized(missing, set()), f"{door}: a foreign clinic slug is an oracle"
    assert not Study.objects.filter(patient_id="PID-0000").exists(), f"{door}: stored into a clinic not the caller's"


def stow(api, paths, slug):
    boundary = "sec-boundary"
    body = b""
    for path in paths:
        body += f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + path.read_bytes() + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return api.generic("POST", f"/dicomweb/studies?clinic={slug}", body,
                       content_type=f'multipart/related; type="application/dicom"; boundary={boundary}')


def test_a_user_of_no_clinic_sees_nothing(north, south, db):
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    loner = get_user_model().objects.create_user(username="loner", password="pw-loner")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=loner).key}")
    assert client.get("/api/v1/studies/").json()["count"] == 0
    assert client.get(f"/api/v1/studies/{north.study.pk}/").status_code == 404
    assert client.get(f"/api/v1/shares/{north.share.pk}/").status_code == 404
    assert json.loads(client.get(f"/api/v1/shares/{MISSING}/").content) == json.loads(
        client.get(f"/api/v1/shares/{south.share.pk}/").content)
