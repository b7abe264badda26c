"""Regressions from the code review: each names the failure it guards against."""

from __future__ import annotations

import concurrent.futures

import pytest
import requests
from django.core import mail

from sharing.listener import clinic_for_calling_ae
from sharing.models import Share, ShareExclusion
from sharing.shares import lease, lifecycle
from sharing.shares.exclusions import exclude
from tests.conftest import make_clinic
from tests.sharing.conftest import link_from, run_pipeline
from tests.sharing.shares.test_pipeline_and_landing import path_of, share_by_email

pytestmark = pytest.mark.django_db


def test_work_asked_for_while_another_run_holds_the_share_is_not_dropped(api, study):
    share = share_by_email(api, study)
    other_run = lease.acquire_lease(share)
    assert other_run
    busy = lifecycle.prepare(share.pk, share.generation)
    assert busy.stage == lifecycle.Stage.PREPARE and busy.countdown > 0, "busy, so the task retries later"
    assert share.items.count() == 0
    lease.release_lease(share, other_run)
    assert lifecycle.prepare(share.pk, share.generation) == lifecycle.Next(lifecycle.Stage.DELIVER)


def test_a_run_that_lost_its_lease_stops_writing(api, study):
    share = share_by_email(api, study)
    stalled = lease.acquire_lease(share)
    Share.objects.filter(pk=share.pk).update(lease_owner="a-newer-run")  # ours ran out; another took it
    with pytest.raises(lease.LeaseLost):
        lifecycle.report_step(share, lifecycle.Step.RENDERING, owner=stalled)
    # Its scratch folder may be gone (the newer run clears dead runs' folders): a failure it sees
    # now must not become the image's exclusion, or the newer run would skip the image.
    with pytest.raises(lease.LeaseLost):
        exclude(share, study.instances.first(), "could not be anonymized: file vanished", owner=stalled)
    assert not ShareExclusion.objects.filter(share=share).exists(), "a stale run records nothing"
    lease.release_lease(share, stalled)
    assert Share.objects.get(pk=share.pk).lease_owner == "a-newer-run", "only the owner releases a lease"


def test_an_image_that_cannot_be_read_is_excluded_and_the_rest_still_go_out(api, study):
    broken = study.instances.order_by("pk").first()
    broken.file.storage.delete(broken.file.name)
    share = run_pipeline(share_by_email(api, study))
    assert share.status == "sent"
    assert "could not be read" in ShareExclusion.objects.get(share=share, instance=broken).reason
    assert share.items.count() == study.instance_count - 1


def test_the_sweep_fails_a_share_that_never_finishes(api, study, settings):
    from sharing.shares.sweep import sweep_stuck_shares

    settings.SHARE_MAX_SWEEPS = 2
    share = share_by_email(api, study)
    Share.objects.filter(pk=share.pk).update(sweep_count=2, updated_at=share.created_at.replace(year=2000))
    assert sweep_stuck_shares() == []
    share.refresh_from_db()
    assert share.status == "failed" and "did not finish" in share.error and share.delivery_secret is None


def test_greylisting_is_retried_not_failed(api, study, settings):
    from sharing.tasks import deliver_share
    from tests.sharing.delivery import failing_backends

    settings.EMAIL_BACKEND = "tests.sharing.delivery.failing_backends.GreylistingBackend"
    settings.DELIVERY_RETRY_BASE_SECONDS = 0
    failing_backends.GreylistingBackend.refusals_left = 1
    failing_backends.GreylistingBackend.sent = []
    share = share_by_email(api, study)
    assert lifecycle.prepare(share.pk, share.generation) == lifecycle.Next(lifecycle.Stage.DELIVER)
    deliver_share.apply(args=(share.pk, share.generation))
    share.refresh_from_db()
    assert share.status == "sent" and len(failing_backends.GreylistingBackend.sent) == 1


def test_documents_stop_being_served_when_the_passcode_is_removed(api, exam, client, clinic):
    from sharing.models import Study
    from tests.conftest import named_bytes

    clinic.set_link_passcode("clinic-code")
    clinic.save()
    pdf = named_bytes("report.pdf", b"%PDF-1.4\n% a report\n%%EOF\n")
    api.post("/api/v1/studies/", {"files": [open(exam[0], "rb"), pdf]}, format="multipart")
    share = run_pipeline(share_by_email(api, Study.objects.get()))
    document = share.items.get(kind="document")
    link = path_of(link_from(mail.outbox[0].body))
    client.post(f"{link}/passcode", {"passcode": "clinic-code"})
    assert client.get(f"{link}/a/{document.pk}/download").status_code == 200
    clinic.set_link_passcode("")
    clinic.save()
    assert client.get(f"{link}/a/{document.pk}/download").status_code == 404
    assert "report" not in client.get(link).content.decode().lower()
    import io
    import zipfile

    names = zipfile.ZipFile(io.BytesIO(b"".join(client.get(f"{link}/ultrasound.zip").streaming_content))).namelist()
    assert not any(name.endswith(".pdf") for name in names)


def test_unknown_devices_are_refused_when_two_clinics_would_take_them(db):
    first = make_clinic("first", accept_unknown_devices=True)
    assert clinic_for_calling_ae("NEW_CART") == first
    make_clinic("second", accept_unknown_devices=True)
    assert clinic_for_calling_ae("NEW_CART") is None


@pytest.mark.django_db(transaction=True)
def test_parallel_passcode_guesses_still_trip_the_lockout(pipeline_in_this_process, live_server, api, study, settings):
    settings.RATELIMIT_ENABLE = False
    share = run_pipeline(share_by_email(api, study, passcode="right-one"))
    link = link_from(mail.outbox[0].body).split("/p/", 1)[1]
    url = f"{live_server.url}/p/{link}/passcode"

    def guess(index):
        session = requests.Session()
        page = session.get(url)
        assert page.status_code == 200, (page.status_code, page.headers, page.url)
        return session.post(url, data={"passcode": f"wrong-{index}", "csrfmiddlewaretoken": session.cookies["csrftoken"]},
                            headers={"Referer": url}).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(guess, range(12)))
    assert statuses.count(400) <= 5, f"at most five wrong guesses are checked: {statuses}"
    assert share.passcode_attempts.get().locked_until is not None, "the guessing address is locked out"
    locked_page = requests.get(url)
    assert locked_page.status_code == 429 and "Too many attempts" in locked_page.text
    assert "<form" not in locked_page.text, "no passcode can be tried while locked, not even the right one"


@pytest.mark.django_db(transaction=True)
def test_a_slow_run_keeps_its_lease_while_it_works(pipeline_in_this_process, api, study, settings):
    import time

    settings.SHARE_LEASE_SECONDS = 1.5
    share = share_by_email(api, study)
    owner = lease.acquire_lease(share)
    first = Share.objects.get(pk=share.pk).lease_until
    with lease.LeaseKeeper(share, owner):
        time.sleep(2)  # longer than a lease: one long clip can take that
        held = Share.objects.get(pk=share.pk)
    assert held.lease_owner == owner and held.lease_until > first, "renewed, so the sweep does not take it over"
    assert lease.acquire_lease(share) is None, "still ours"
