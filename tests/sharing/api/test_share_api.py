"""POST /api/v1/shares/ and friends: validation, isolation, the queued response."""

from __future__ import annotations

import pytest

from sharing.models import Share, ShareEvent

pytestmark = pytest.mark.django_db


def test_share_by_email_is_accepted_and_queued(api, study):
    response = api.post("/api/v1/shares/", {"study": study.pk, "email": "Jane.Patient@Example.ORG"}, format="json")
    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    share = Share.objects.get(pk=response.json()["id"])
    assert share.contact_masked == "J***@e***.org"
    assert share.instances.count() == study.instance_count, "all instances by default"
    assert b"Jane.Patient" not in bytes(share.delivery_secret), "the contact is held encrypted"
    assert share.events.filter(kind=ShareEvent.Kind.CREATED).exists()
    assert (share.expires_at - share.created_at).days in (89, 90), "the clinic's 90-day default"


def test_share_by_phone_is_normalised_with_the_clinic_country(api, study, clinic):
    clinic.sms_region = "GB"
    clinic.save()
    response = api.post("/api/v1/shares/", {"study": study.pk, "phone": "07400 123456"}, format="json")
    assert response.status_code == 202, response.content
    share = Share.objects.get()
    assert share.channel == "sms" and share.contact_masked == "+44 ••• ••• 3456"
    from sharing.contacts import unseal

    assert unseal(share.delivery_secret)[0] == "+447400123456", "E.164"


@pytest.mark.parametrize("payload, field", [
    ({"email": "not-an-email"}, "email"),
    ({"phone": "12"}, "phone"),
    ({"phone": "+44 20 7946 0958"}, "phone"),  # a landline cannot get texts
    ({}, "email"),
    ({"email": "a@b.org", "phone": "+12025550123"}, "email"),
    ({"email": "a@b.org", "expires_in_days": 0}, "expires_in_days"),
])
def test_bad_contact_gets_400_with_field_errors_and_nothing_is_queued(api, study, payload, field):
    response = api.post("/api/v1/shares/", {"study": study.pk, **payload}, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert Share.objects.count() == 0


def test_instances_must_belong_to_the_study(api, study, other_clinic):
    response = api.post("/api/v1/shares/", {"study": study.pk, "email": "a@b.org", "instances": [999999]}, format="json")
    assert response.status_code == 400 and "instances" in response.json()


def test_selected_instances_only(api, study):
    first = study.instances.order_by("pk").first()
    response = api.post("/api/v1/shares/", {"study": study.pk, "email": "a@b.org", "instances": [first.pk]}, format="json")
    assert response.status_code == 202
    assert list(Share.objects.get().instances.values_list("pk", flat=True)) == [first.pk]


def test_study_of_another_clinic_is_404(other_api, study):
    response = other_api.post("/api/v1/shares/", {"study": study.pk, "email": "a@b.org"}, format="json")
    assert response.status_code == 404
    assert Share.objects.count() == 0


def test_share_of_another_clinic_cannot_be_read_revoked_or_resent(api, other_api, study):
    share_id = api.post("/api/v1/shares/", {"study": study.pk, "email": "a@b.org"}, format="json").json()["id"]
    assert other_api.get(f"/api/v1/shares/{share_id}/").status_code == 404
    assert other_api.post(f"/api/v1/shares/{share_id}/revoke/").status_code == 404
    assert other_api.post(f"/api/v1/shares/{share_id}/resend/", {"email": "x@y.org"}, format="json").status_code == 404
    assert Share.objects.get().revoked_at is None


def test_share_detail_has_the_documented_fields(api, study):
    share_id = api.post("/api/v1/shares/", {"study": study.pk, "email": "a@b.org"}, format="json").json()["id"]
    body = api.get(f"/api/v1/shares/{share_id}/").json()
    for key in ["id", "status", "error", "images", "clips", "excluded", "expires_at", "opened_at"]:
        assert key in body, key
    assert "a@b.org" not in str(body), "the API never returns the contact"


def test_revoke_via_api(api, study):
    share_id = api.post("/api/v1/shares/", {"study": study.pk, "email": "a@b.org"}, format="json").json()["id"]
    body = api.post(f"/api/v1/shares/{share_id}/revoke/").json()
    assert body["revoked_at"] is not None
