"""Ingest through POST /api/v1/studies/: good files go in, bad files are refused one by one."""

from __future__ import annotations

import io
import os
import zipfile

import pytest

from sharing.models import Instance, Series, Study
from tests.conftest import named_bytes, stored_files, temp_files, upload_files

pytestmark = pytest.mark.django_db


def post(api, *files, **extra):
    return api.post("/api/v1/studies/", {"files": list(files), **extra}, format="multipart")


def test_uploaded_exam_appears_in_the_study_list(api, exam):
    response = upload_files(api, exam)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["accepted"] == len(exam) and body["rejected"] == []
    assert len(body["studies"]) == 1
    listing = api.get("/api/v1/studies/").json()
    assert listing["count"] == 1
    study = listing["results"][0]
    assert study["patient_name"] == "DOE, JANE"
    assert study["patient_id"] == "PID-4711"
    assert study["instance_count"] == len(exam)
    assert study["source"] == "api"
    detail = api.get(f"/api/v1/studies/{study['id']}/").json()
    assert len(detail["instances"]) == len(exam)
    assert {i["number_of_frames"] for i in detail["instances"]} >= {30}, "the 30-frame US clip keeps its frame count"


def test_resending_the_same_instance_is_idempotent(api, exam, settings):
    upload_files(api, exam)
    files_before = sorted(stored_files(settings))
    again = upload_files(api, exam)
    assert again.status_code == 201
    assert Instance.objects.count() == len(exam), "a re-sent SOP Instance UID must not be stored twice"
    assert Study.objects.get().instance_count == len(exam)
    assert sorted(stored_files(settings)) == files_before, "a duplicate must not leave a second file"


def test_stored_file_names_carry_no_identifiers(api, exam, settings):
    upload_files(api, exam)
    for path in stored_files(settings):
        assert "DOE" not in path.name.upper() and "4711" not in path.name and "exam" not in path.name


def test_zip_upload_is_expanded(api, exam, tmp_path):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        for index, path in enumerate(exam):
            zf.write(path, f"folder/sub/{index}.dcm")
        zf.writestr("__MACOSX/._junk", b"ignored")
    response = post(api, named_bytes("exam.zip", archive.getvalue()))
    assert response.status_code == 201
    assert response.json()["accepted"] == len(exam)


BAD_INPUTS = {
    "random bytes": (os.urandom(4096), "not a DICOM file"),
    "empty": (b"", "empty"),
    "truncated": (None, "truncated"),
    "no meta": (b"\x08\x00\x05\x00CS\x0a\x00ISO_IR 100", "not a DICOM file"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_file_is_rejected_with_a_reason_and_the_rest_go_in(api, exam, case, settings):
    data, reason = BAD_INPUTS[case]
    if data is None:
        whole = exam[0].read_bytes()
        data = whole[: len(whole) * 2 // 3]
    response = post(api, named_bytes("bad.dcm", data), open(exam[1], "rb"))
    assert response.status_code == 201
    body = response.json()
    assert body["accepted"] == 1, "the good file still goes in"
    assert len(body["rejected"]) == 1
    assert body["rejected"][0]["file"] == "bad.dcm"
    assert reason in body["rejected"][0]["reason"]
    assert Instance.objects.count() == 1
    assert len(stored_files(settings)) == 1, "nothing half-stored stays behind"
    assert temp_files(settings) == [], "no temp copy stays behind"


def test_zip_path_traversal_is_refused(api, exam):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(exam[0], "../../etc/evil.dcm")
        zf.write(exam[1], "good.dcm")
    body = post(api, named_bytes("evil.zip", archive.getvalue())).json()
    assert body["accepted"] == 1
    assert [r["reason"] for r in body["rejected"]] == ["path traversal in ZIP entry name"]


def test_zip_bomb_is_refused_before_it_expands(api, settings, tmp_path):
    settings.MAX_ZIP_EXPANDED_BYTES = 50 * 1024 * 1024
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for index in range(3):
            zf.writestr(f"zeros-{index}.dcm", b"\0" * (30 * 1024 * 1024))
    assert len(archive.getvalue()) < 1024 * 1024, "the bomb is small on the wire"
    body = post(api, named_bytes("bomb.zip", archive.getvalue())).json()
    assert body["accepted"] == 0
    assert "zip bomb" in body["rejected"][0]["reason"]
    assert temp_files(settings) == []


def test_zip_with_too_many_entries_is_refused(api, settings):
    settings.MAX_ZIP_ENTRIES = 10
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        for index in range(11):
            zf.writestr(f"{index}.dcm", b"x")
    body = post(api, named_bytes("many.zip", archive.getvalue())).json()
    assert "more than the limit" in body["rejected"][0]["reason"]


def test_zip_member_that_lies_about_its_size_is_cut_off(api, settings, exam):
    settings.MAX_FILE_BYTES = 1024 * 1024
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.dcm", b"\0" * (2 * 1024 * 1024))
    body = post(api, named_bytes("big.zip", archive.getvalue())).json()
    assert "larger than" in body["rejected"][0]["reason"]
    assert temp_files(settings) == []


def test_oversized_file_is_refused(api, exam, settings):
    settings.MAX_FILE_BYTES = 1024
    body = post(api, open(exam[0], "rb")).json()
    assert body["accepted"] == 0
    assert "larger than" in body["rejected"][0]["reason"]
    assert stored_files(settings) == []


def test_upload_without_files_is_a_400(api):
    response = api.post("/api/v1/studies/", {}, format="multipart")
    assert response.status_code == 400
    assert "files" in response.json()


def test_api_needs_a_token(client, exam):
    response = client.get("/api/v1/studies/")
    assert response.status_code in (401, 403)


def test_strict_clinic_stores_no_phi(strict_clinic, exam, settings):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from tests.conftest import make_staff

    user = make_staff("carol", strict_clinic)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    body = upload_files(client, exam).json()
    assert body["accepted"] == len(exam), body
    study = Study.objects.get(clinic=strict_clinic)
    assert study.patient_name == "ANONYMOUS" and study.patient_id == "000000"
    assert study.patient_sex == "O"
    assert study.patient_birth_date.isoformat() == "1980-01-01"
    assert study.study_date.isoformat() == "2024-01-01"
    assert study.anonymized
    for path in stored_files(settings):
        raw = path.read_bytes()
        for marker in (b"DOE", b"JANE", b"PID-4711", b"19870615", b"SONO", b"North Clinic"):
            assert marker not in raw, f"{marker!r} was stored by a strict clinic"
    assert all(s.series_instance_uid.startswith("2.25.") for s in Series.objects.filter(study=study)), "UIDs are replaced"


def test_upload_answer_shows_the_stored_counts_of_the_study_it_filled(api, exam):
    body = upload_files(api, exam).json()
    assert body["studies"][0]["instance_count"] == len(exam), "the answer must show what was stored, not 0"
    assert body["studies"][0]["modalities"] == "US"
    again = upload_files(api, exam[:1]).json()
    assert again["studies"][0]["instance_count"] == len(exam), "a resent instance is not counted twice"


def test_a_defect_while_ingesting_one_file_is_not_bad_input_and_spares_the_others(api, exam, monkeypatch, caplog):
    from sharing.ingest import service

    real = service.validate_dicom

    def broken_for_the_second(path):
        if str(path) == str(broken_for_the_second.second):
            value = "ZQ" + "PATIENT"  # a value read from the file
            raise AttributeError(f"{value} is not a method")  # our bug, quoting it
        return real(path)

    monkeypatch.setattr(service, "validate_dicom", broken_for_the_second)
    files = [open(p, "rb") for p in exam]
    try:
        from sharing.ingest import sources

        real_candidates = sources.candidates_from_uploads

        def remember(uploads):
            for index, candidate in enumerate(real_candidates(uploads)):
                if index == 1:
                    broken_for_the_second.second = candidate.path
                yield candidate

        broken_for_the_second.second = None
        monkeypatch.setattr(service, "candidates_from_uploads", remember)
        response = api.post("/api/v1/studies/", {"files": files}, format="multipart")
    finally:
        for f in files:
            f.close()
    assert response.status_code == 201, "one file's defect must not fail the request"
    body = response.json()
    assert body["accepted"] == len(exam) - 1
    [rejected] = body["rejected"]
    assert rejected["reference"].startswith("ERR-") and rejected["reference"] in rejected["reason"]
    assert "AttributeError" not in rejected["reason"] and "ZQPATIENT" not in rejected["reason"]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert rejected["reference"] in logged and "ZQPATIENT" not in logged
