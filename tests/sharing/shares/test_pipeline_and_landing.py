"""The share pipeline end to end in-process, and the patient's page: what the patient gets,
what they never get, and how the link lives and dies."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile

import pydicom
import pytest
from django.core import mail
from django.utils import timezone

from sharing.models import PasscodeAttempts, Share, ShareEvent, ShareExclusion
from tests.sharing.conftest import IDENTIFIERS, link_from, run_pipeline

pytestmark = pytest.mark.django_db


def share_by_email(api, study, **extra) -> Share:
    response = api.post("/api/v1/shares/", {"study": study.pk, "email": "jane.patient@example.org", **extra}, format="json")
    assert response.status_code == 202, response.content
    return Share.objects.get(pk=response.json()["id"])


def path_of(link: str) -> str:
    return "/" + link.split("/", 3)[3]


def assert_no_identifiers(text: str, where: str) -> None:
    upper = text.upper()
    for identifier in IDENTIFIERS:
        assert identifier.upper() not in upper, f"{identifier!r} leaked into {where}"


def test_email_share_is_processed_delivered_once_and_viewable(api, study, client):
    share = run_pipeline(share_by_email(api, study))
    assert share.status == "sent", share.error
    assert share.delivery_secret is None, "the contact is erased after delivery"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["jane.patient@example.org"]
    body = message.body + message.alternatives[0][0]
    assert_no_identifiers(message.subject + body, "the email")
    link = link_from(message.body)
    assert link in message.alternatives[0][0]

    page = client.get(path_of(link))
    assert page.status_code == 200
    assert page["Cache-Control"] == "private, no-store" and page["Referrer-Policy"] == "no-referrer"
    html = page.content.decode()
    assert_no_identifiers(html, "the landing page")
    assert "<video" in html and "playsinline" in html and "poster=" in html
    assert html.count("Download JPG") + html.count("Download MP4") == share.items.count()
    assert share.items.filter(kind="clip").count() >= 1
    share.refresh_from_db()
    assert share.opened_at is None, "a bare GET (a mail scanner) does not count as opened"


def test_delivering_twice_sends_one_message(api, study):
    from sharing.shares import lifecycle

    share = run_pipeline(share_by_email(api, study))
    assert lifecycle.deliver(share.pk, share.generation) == lifecycle.NOTHING
    assert len(mail.outbox) == 1, "the second delivery of a generation sends nothing"


def test_preparing_twice_publishes_each_instance_once(api, study):
    from sharing.shares.lifecycle import prepare as prepare_share

    share = share_by_email(api, study)
    prepare_share(share.pk, share.generation)
    items = share.items.count()
    prepare_share(share.pk, share.generation)
    assert share.items.count() == items
    assert ShareEvent.objects.filter(share=share, kind="processed").count() == 1


def test_sms_share_carries_only_the_clinic_and_the_link(api, study, sms_outbox):
    response = api.post("/api/v1/shares/", {"study": study.pk, "phone": "+1 202 555 0143"}, format="json")
    assert response.status_code == 202, response.content
    share = run_pipeline(Share.objects.get(pk=response.json()["id"]))
    assert share.status == "sent", share.error
    assert len(sms_outbox) == 1
    assert sms_outbox[0].to == "+12025550143"
    assert_no_identifiers(sms_outbox[0].body, "the SMS")
    assert link_from(sms_outbox[0].body)


def test_assets_downloads_and_zip(api, study, client):
    share = run_pipeline(share_by_email(api, study))
    link = path_of(link_from(mail.outbox[0].body))
    html = client.get(link).content.decode()
    downloads = re.findall(r'href="([^"]+/download)"', html)
    assert downloads
    for url in downloads:
        response = client.get(url)
        assert response.status_code == 200
        disposition = response["Content-Disposition"]
        assert re.search(r'filename="ultrasound-(image|clip)-\d+\.(jpg|mp4)"', disposition), disposition
        body = b"".join(response.streaming_content)
        assert_no_identifiers(body.decode("latin-1"), "a downloaded file")
        assert body[:3] == b"\xff\xd8\xff" or body[4:8] == b"ftyp"
    zipped = client.get(f"{link}/ultrasound.zip")
    assert zipped.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(zipped.streaming_content)))
    names = archive.namelist()
    assert len(names) == share.items.count()
    assert all(re.fullmatch(r"ultrasound-(image|clip)-\d+\.(jpg|mp4)", n) for n in names), names
    assert archive.testzip() is None
    share.refresh_from_db()
    assert share.downloaded_at is not None and share.opened_at is not None


def test_opened_counts_only_on_a_human_action(api, study, client):
    share = run_pipeline(share_by_email(api, study))
    link = path_of(link_from(mail.outbox[0].body))
    client.get(link)
    client.get(link)
    share.refresh_from_db()
    assert share.opened_at is None
    assert client.post(f"{link}/opened").status_code == 200
    share.refresh_from_db()
    assert share.opened_at is not None
    assert share.events.filter(kind="opened").count() == 1


def test_unknown_token_is_404(client, db):
    response = client.get("/p/" + "A" * 43)
    assert response.status_code == 404
    assert response["Cache-Control"] == "private, no-store"


def test_revoked_link_dies_at_once(api, study, client):
    share = run_pipeline(share_by_email(api, study))
    link = path_of(link_from(mail.outbox[0].body))
    item = share.items.first()
    assert client.get(link).status_code == 200, "the page is now rendered and cached"
    assert client.get(f"{link}/a/{item.pk}/media").status_code == 200
    api.post(f"/api/v1/shares/{share.pk}/revoke/")
    assert client.get(link).status_code == 410, "the cached page never outlives a revoke"
    assert client.get(f"{link}/a/{item.pk}/media").status_code == 410
    assert client.get(f"{link}/ultrasound.zip").status_code == 410


def test_expired_link_is_410(api, study, client):
    share = run_pipeline(share_by_email(api, study))
    link = path_of(link_from(mail.outbox[0].body))
    Share.objects.filter(pk=share.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = client.get(link)
    assert response.status_code == 410 and "expired" in response.content.decode()


def test_resend_gives_a_new_link_and_expiry_and_kills_the_old(api, study, client):
    share = run_pipeline(share_by_email(api, study, expires_in_days=3))
    old = path_of(link_from(mail.outbox[0].body))
    needs_contact = api.post(f"/api/v1/shares/{share.pk}/resend/", {}, format="json")
    assert needs_contact.status_code == 400, "the contact was erased after delivery; it is asked again"
    response = api.post(f"/api/v1/shares/{share.pk}/resend/", {"email": "jane.patient@example.org", "expires_in_days": 30}, format="json")
    assert response.status_code == 202
    share = run_pipeline(share)
    assert len(mail.outbox) == 2, "exactly one more message"
    new = path_of(link_from(mail.outbox[1].body))
    assert new != old
    assert client.get(old).status_code == 410
    assert client.get(new).status_code == 200
    assert (share.expires_at - timezone.now()).days >= 29
    assert share.events.filter(kind="resent").count() == 1


def test_passcode_page_and_lockout(api, study, client):
    share = run_pipeline(share_by_email(api, study, passcode="4711xy"))
    link = path_of(link_from(mail.outbox[0].body))
    assert "passcode" in mail.outbox[0].body
    response = client.get(link)
    assert response.status_code == 302 and response["Location"].endswith("/passcode")
    item = share.items.first()
    assert client.get(f"{link}/a/{item.pk}/media").status_code == 403
    for _ in range(4):
        assert client.post(f"{link}/passcode", {"passcode": "wrong"}).status_code == 400
    assert client.post(f"{link}/passcode", {"passcode": "wrong"}).status_code == 429
    locked = client.post(f"{link}/passcode", {"passcode": "4711xy"})
    assert locked.status_code == 429, "locked out even with the right passcode"
    # The address's lockout runs out (sharing/shares/lockout.py counts per link and address).
    PasscodeAttempts.objects.filter(share=share).update(locked_until=timezone.now() - dt.timedelta(seconds=1))
    assert client.post(f"{link}/passcode", {"passcode": "4711xy"}).status_code == 302
    assert client.get(link).status_code == 200
    assert client.get(f"{link}/a/{item.pk}/media").status_code == 200


def test_exam_from_a_device_without_regions_is_shared_with_no_staff_action_and_nothing_identifying_left(
        api, tmp_path, client):
    """The generated corpus's whole-frame case: identifiers drawn into a GE frame, no regions."""
    import numpy as np

    from sharing.models import Study
    from tests.anonymizer.burned_in_corpus import build_corpus, output_frames, text_coloured
    from tests.conftest import upload_files

    case = next(item for item in build_corpus(tmp_path) if item.label == "jpeg2k no regions header q85 1f bottom+inside")
    upload_files(api, [case.path])
    share = run_pipeline(share_by_email(api, Study.objects.get()))
    assert share.status == "sent" and not share.exclusions.exists(), "no staff action needed"
    item = share.items.get()
    with item.media.open("rb") as fh:
        published = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(fh).convert("RGB"))
    before = output_frames(case.path)[0]
    assert published.shape == before.shape
    for drawn in case.drawn:
        share_left = text_coloured(before, published, drawn)
        if drawn.identifying:
            assert share_left <= 0.05, f"{drawn.text!r} is still legible in the patient's image"
        else:
            assert share_left >= 0.8, f"the annotation {drawn.text!r} was blacked out"


def test_unverified_image_is_excluded_with_its_counts_and_reviewed_as_anonymized(api, exam, client, staff, monkeypatch):
    import io as _io

    import numpy as np
    from PIL import Image

    from anonymizer.pixels.text_detection import TextEngine, load_text_engine
    from sharing.models import Study
    from tests.conftest import upload_files

    upload_files(api, exam[:2])
    study = Study.objects.get()
    load_text_engine()  # loaded (and probed) before the detector breaks
    real_detect = TextEngine.detect

    def broken(self, image):
        raise RuntimeError("onnxruntime failed")

    monkeypatch.setattr(TextEngine, "detect", broken)
    share = run_pipeline(share_by_email(api, study))
    assert share.exclusions.count() == 2 and share.status == "failed", "nothing verified, nothing sent"
    exclusion = share.exclusions.get(instance__number_of_frames__lte=1)  # the still (a palette image)
    assert exclusion.acceptable and "text detection failed on frame 1 (RuntimeError)" in exclusion.reason
    assert "+ text detection: 0 text box(es) found, 0 blacked out, 0 kept by the allow-list" in exclusion.reason
    assert exclusion.reason in [e["reason"] for e in api.get(f"/api/v1/shares/{share.pk}/").json()["excluded"]]

    client.force_login(staff)
    page = client.get(f"/shares/{share.pk}/exclusions/{exclusion.pk}/review/")
    assert page.status_code == 200 and "Accept as it is" in page.content.decode()
    rendering = client.get(f"/shares/{share.pk}/exclusions/{exclusion.pk}/review.jpg")
    assert rendering.status_code == 200 and rendering["Content-Type"] == "image/jpeg"
    shown = np.asarray(Image.open(_io.BytesIO(b"".join(rendering.streaming_content))).convert("RGB"))
    original = pydicom.dcmread(exclusion.instance.file.open("rb"))
    x0, y0 = int(original.SequenceOfUltrasoundRegions[0].RegionLocationMinX0), int(original.SequenceOfUltrasoundRegions[0].RegionLocationMinY0)
    assert shown[:y0].max() <= 40 and shown[:, :x0].max() <= 40, \
        "staff see the anonymized rendering (outside the regions black), not the original thumbnail"
    study_page = client.get(f"/studies/{study.pk}/").content.decode()
    assert f"/shares/{share.pk}/exclusions/{exclusion.pk}/review.jpg" in study_page

    # Staff point at a box (here one we place over the image) and accept with it blacked out.
    box = [x0 + 20, y0 + 20, x0 + 120, y0 + 60]
    ShareExclusion.objects.filter(pk=exclusion.pk).update(review_boxes=[box])
    monkeypatch.setattr(TextEngine, "detect", real_detect)
    response = client.post(f"/shares/{share.pk}/exclusions/{exclusion.pk}/blackout/", {"box": "1"})
    assert response.status_code == 302
    exclusion.refresh_from_db()
    assert exclusion.accepted_at and exclusion.blackout_boxes == [box]
    assert client.post(f"/shares/{share.pk}/exclusions/{exclusion.pk}/blackout/", {"box": "7"}).status_code == 302
    share = run_pipeline(share)
    item = share.items.get(instance=exclusion.instance)
    with item.media.open("rb") as fh:
        published = np.asarray(Image.open(fh).convert("RGB"))
    assert published[box[1] + 3:box[3] - 3, box[0] + 3:box[2] - 3].max() <= 24, "the pointed box is blacked out"


def test_standard_clinic_pdf_is_shared_only_behind_a_passcode(api, exam, client):
    from sharing.models import Study
    from tests.conftest import named_bytes

    pdf = named_bytes("report.pdf", b"%PDF-1.4\n% a report\n%%EOF\n")
    api.post("/api/v1/studies/", {"files": [open(exam[0], "rb"), pdf]}, format="multipart")
    study = Study.objects.get()
    assert study.documents.count() == 1
    open_share = run_pipeline(share_by_email(api, study))
    assert not open_share.items.filter(kind="document").exists()
    assert "passcode" in open_share.exclusions.get(document__isnull=False).reason
    locked_share = run_pipeline(share_by_email(api, study, passcode="secret-1"))
    assert locked_share.items.filter(kind="document").count() == 1


def test_permanent_delivery_failure_is_marked_failed_and_visible(api, study, settings):
    settings.EMAIL_BACKEND = "tests.sharing.delivery.failing_backends.RefusingBackend"
    from sharing.tasks import deliver_share as deliver_task
    from sharing.shares.lifecycle import prepare as prepare_share

    share = share_by_email(api, study)
    assert prepare_share(share.pk, share.generation).stage == "deliver"
    deliver_task.apply(args=(share.pk, share.generation))
    share.refresh_from_db()
    assert share.status == "failed" and "refused the recipient" in share.error
    assert "jane" not in share.error.lower()
    assert share.delivery_secret is None
    assert api.get(f"/api/v1/shares/{share.pk}/").json()["error"] == share.error


def test_transient_delivery_failure_is_retried_then_delivered(api, study, settings):
    settings.EMAIL_BACKEND = "tests.sharing.delivery.failing_backends.FlakyBackend"
    settings.DELIVERY_RETRY_BASE_SECONDS = 0
    from tests.sharing.delivery import failing_backends
    from sharing.tasks import deliver_share as deliver_task
    from sharing.shares.lifecycle import prepare as prepare_share

    failing_backends.FlakyBackend.failures_left = 2
    share = share_by_email(api, study)
    assert prepare_share(share.pk, share.generation).stage == "deliver"
    result = deliver_task.apply(args=(share.pk, share.generation))
    share.refresh_from_db()
    assert share.status == "sent", (share.status, share.error, result.state)
    assert failing_backends.FlakyBackend.attempts == 3
    assert len(failing_backends.FlakyBackend.sent) == 1


def test_staff_share_from_the_study_page(client, staff, study):
    client.force_login(staff)
    response = client.post(f"/studies/{study.pk}/share/", {"email": "x@example.org", "expires_in_days": 14})
    assert response.status_code == 302
    share = Share.objects.get()
    assert share.created_by == staff
    page = client.get(f"/studies/{study.pk}/").content.decode()
    assert "x***@e***.org" in page and "Queued" in page
    bad = client.post(f"/studies/{study.pk}/share/", {"phone": "123"})
    assert bad.status_code == 400 and "valid mobile number" in bad.content.decode()
    assert Share.objects.count() == 1
    listing = client.get("/studies/").content.decode()
    assert "queued" in listing.lower()


def test_unknown_token_costs_what_a_known_one_costs(api, study):
    """404 at the speed of a hit: one indexed query either way, so timing reveals nothing."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from sharing.views.patient.access import find_token

    run_pipeline(share_by_email(api, study))
    token = link_from(mail.outbox[0].body).rsplit("/", 1)[1]
    with CaptureQueriesContext(connection) as hit:
        assert find_token(token) is not None
    with CaptureQueriesContext(connection) as miss:
        assert find_token("x" * len(token)) is None
    assert len(hit) == len(miss) == 1
    assert hit.captured_queries[0]["sql"].split("WHERE")[0] == miss.captured_queries[0]["sql"].split("WHERE")[0]


def test_clips_answer_range_requests_as_ios_safari_needs(api, study, client):
    """iOS Safari probes with `Range: bytes=0-1` and plays only from a server that answers 206."""
    share = run_pipeline(share_by_email(api, study))
    link = path_of(link_from(mail.outbox[0].body))
    clip = share.items.get(kind="clip")
    url = f"{link}/a/{clip.pk}/media"
    whole = b"".join(client.get(url).streaming_content)
    assert len(whole) == clip.media.size

    probe = client.get(url, HTTP_RANGE="bytes=0-1")
    assert probe.status_code == 206
    assert probe["Content-Range"] == f"bytes 0-1/{len(whole)}"
    assert b"".join(probe.streaming_content) == whole[:2]
    middle = client.get(url, HTTP_RANGE="bytes=100-1099")
    assert b"".join(middle.streaming_content) == whole[100:1100] and middle["Content-Length"] == "1000"
    tail = client.get(url, HTTP_RANGE="bytes=-500")
    assert b"".join(tail.streaming_content) == whole[-500:]
    open_ended = client.get(url, HTTP_RANGE=f"bytes={len(whole) - 10}-")
    assert b"".join(open_ended.streaming_content) == whole[-10:]
    beyond = client.get(url, HTTP_RANGE=f"bytes={len(whole)}-")
    assert beyond.status_code == 416 and beyond["Content-Range"] == f"bytes */{len(whole)}"
    assert probe["Cache-Control"] == "private, no-store", "ranges are private too"


def test_the_clinic_language_sets_the_patient_page_email_and_sms(api, study, clinic, client, sms_outbox):
    clinic.language = "de"
    clinic.save()
    share = run_pipeline(share_by_email(api, study))
    message = mail.outbox[0]
    assert message.subject == "Ihre Ultraschallbilder von North"
    assert "Hier können Sie sie ansehen und herunterladen" in message.body
    page = client.get(path_of(link_from(message.body))).content.decode()
    assert '<html lang="de">' in page and "Alle herunterladen" in page and "Verfügbar bis" in page
    response = api.post("/api/v1/shares/", {"study": study.pk, "phone": "+1 202 555 0143"}, format="json")
    run_pipeline(Share.objects.get(pk=response.json()["id"]))
    assert "Ihre Ultraschallbilder sind bereit" in sms_outbox[0].body
    api.post(f"/api/v1/shares/{share.pk}/revoke/")
    assert "Die Praxis hat diesen Link zurückgezogen" in client.get(path_of(link_from(message.body))).content.decode()
