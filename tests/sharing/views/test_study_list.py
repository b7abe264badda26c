"""The staff study list: login, clinic isolation, search, newest first, pagination, no N+1."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from sharing.models import Study
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db


def make_studies(clinic, count, **fields):
    studies = [
        Study(
            clinic=clinic, study_instance_uid=f"1.2.3.{clinic.pk}.{index}", patient_name=f"Patient, Number{index}",
            patient_id=f"ID{index:05d}", patient_sex="F", source="upload", study_description="OB",
            **fields,
        )
        for index in range(count)
    ]
    return Study.objects.bulk_create(studies)


def test_the_list_needs_a_login(client):
    response = client.get(reverse("studies"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_staff_see_only_their_own_clinic(client, staff, clinic, other_clinic):
    make_studies(clinic, 2)
    make_studies(other_clinic, 3)
    client.force_login(staff)
    page = client.get(reverse("studies"))
    assert len(page.context["page"].object_list) == 2
    foreign = Study.objects.filter(clinic=other_clinic).first()
    assert client.get(reverse("study", args=[foreign.pk])).status_code == 404


def test_the_list_shows_tricefy_columns(client, staff, clinic):
    make_studies(clinic, 1, sonographers="Sono, Sam", performing_physicians="Doc, Dana")
    client.force_login(staff)
    html = client.get(reverse("studies")).content.decode()
    for column in ["Full Name", "Patient ID", "Patient DOB", "Gender", "Procedure", "Study Created", "Source",
                   "Sonographers", "Perf. Phys.", "Shared", "Share"]:
        assert f">{column}<" in html, f"column {column} is missing"
    assert "Sono, Sam" in html and "Doc, Dana" in html


def test_search_by_name_or_id(client, staff, clinic):
    make_studies(clinic, 30)
    client.force_login(staff)
    by_id = client.get(reverse("studies"), {"q": "ID00007"}).context["page"].object_list
    assert [s.patient_id for s in by_id] == ["ID00007"]
    by_name = client.get(reverse("studies"), {"q": "number12"}).context["page"].object_list
    assert [s.patient_id for s in by_name] == ["ID00012"]
    by_dicom_name = client.get(reverse("studies"), {"q": "Patient^Number12"}).context["page"].object_list
    assert [s.patient_id for s in by_dicom_name] == ["ID00012"]


def test_newest_first_and_paginated(client, staff, clinic):
    make_studies(clinic, 120)
    client.force_login(staff)
    first = client.get(reverse("studies")).context["page"]
    assert first.paginator.count == 120 and len(first.object_list) == 50
    ids = [s.pk for s in first.object_list]
    assert ids == sorted(ids, reverse=True)
    last = client.get(reverse("studies"), {"page": 3}).context["page"]
    assert len(last.object_list) == 20


def test_patients_tab_groups_studies(client, staff, clinic):
    make_studies(clinic, 3)
    Study.objects.create(clinic=clinic, study_instance_uid="9.9", patient_name="Patient, Number1", patient_id="ID00001", source="dicom")
    client.force_login(staff)
    rows = list(client.get(reverse("studies"), {"tab": "patients"}).context["page"].object_list)
    assert len(rows) == 3
    assert {r["patient_id"]: r["study_count"] for r in rows}["ID00001"] == 2


def test_query_count_does_not_grow_with_page_size(client, staff, clinic, monkeypatch):
    from sharing.views import staff as staff_views

    make_studies(clinic, 60)
    client.force_login(staff)
    counts = {}
    for size in (5, 50):
        monkeypatch.setattr(staff_views, "PAGE_SIZE", size)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("studies"))
        assert len(response.context["page"].object_list) == size
        counts[size] = len(queries)
    assert counts[5] == counts[50], f"N+1 in the study list: {counts}"


def test_strict_clinic_list_shows_what_strict_kept(client, strict_clinic):
    user = make_staff("carol", strict_clinic)
    Study.objects.create(
        clinic=strict_clinic, study_instance_uid="2.25.1", patient_name="ANONYMOUS", patient_id="000000",
        patient_sex="O", patient_birth_date=dt.date(1980, 1, 1), study_date=dt.date(2024, 1, 1),
        source="dicom", anonymized=True,
    )
    client.force_login(user)
    html = client.get(reverse("studies")).content.decode()
    row = html[html.index("<tbody>"):html.index("</tbody>")]
    assert "ANONYMOUS" in row and "000000" in row and "1980s" in row and "Other" in row and ">2024<" in row


def test_study_page_lists_instances(client, staff, api, exam):
    from tests.conftest import upload_files

    upload_files(api, exam)
    client.force_login(staff)
    study = Study.objects.get()
    html = client.get(reverse("study", args=[study.pk])).content.decode()
    assert html.count('name="instances" value=') == len(exam), "each instance can be picked for a share"
    assert html.count("/thumbnail.jpg") == 2 * len(exam)
    assert "30 frames" in html
    study_thumb = client.get(reverse("instance-thumbnail", args=[study.pk, study.instances.first().pk]))
    assert study_thumb.status_code == 200 and study_thumb["Content-Type"] == "image/jpeg"


def test_web_upload_ingests_files(client, staff, exam):
    client.force_login(staff)
    with open(exam[0], "rb") as fh:
        response = client.post(reverse("upload"), {"files": [fh]})
    assert response.status_code == 201 and response.json()["accepted"] == 1


def test_openapi_schema_is_served(api):
    response = api.get("/api/v1/schema/")
    assert response.status_code == 200
    text = response.content.decode()
    assert "/api/v1/studies/" in text and "/dicomweb/studies" in text


def test_drf_create_token_works_for_an_integration(staff):
    from io import StringIO

    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    out = StringIO()
    call_command("drf_create_token", staff.username, stdout=out)
    assert Token.objects.get(user=staff).key in out.getvalue()


def test_admin_lists_clinics_and_studies(client, clinic, staff):
    staff.is_staff = staff.is_superuser = True
    staff.save()
    make_studies(clinic, 2)
    client.force_login(staff)
    for url in ["/admin/sharing/clinic/", "/admin/sharing/study/", "/admin/sharing/instance/", "/admin/sharing/membership/"]:
        assert client.get(url).status_code == 200, url


def test_admin_sets_and_clears_the_clinic_link_passcode(client, clinic, staff):
    staff.is_staff = staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    url = f"/admin/sharing/clinic/{clinic.pk}/change/"
    form = {
        "name": clinic.name, "slug": clinic.slug, "mode": clinic.mode, "link_lifetime_days": 30, "message": "Hi",
        "sms_region": "US", "language": "en", "new_link_passcode": "open-sesame",
        "memberships-TOTAL_FORMS": 0, "memberships-INITIAL_FORMS": 0, "devices-TOTAL_FORMS": 0, "devices-INITIAL_FORMS": 0,
    }
    assert client.post(url, form).status_code == 302
    clinic.refresh_from_db()
    assert clinic.check_link_passcode("open-sesame") and "open-sesame" not in clinic.link_passcode_hash
    assert client.post(url, {**form, "new_link_passcode": ""}).status_code == 302
    clinic.refresh_from_db()
    assert clinic.check_link_passcode("open-sesame"), "blank keeps the passcode"
    assert client.post(url, {**form, "new_link_passcode": "", "clear_link_passcode": "on"}).status_code == 302
    clinic.refresh_from_db()
    assert clinic.link_passcode_hash == ""
