"""The share's life cycle: one module moves it, its table says what follows each outcome, and one
rule says when the patient's contact is erased on failure."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from django.core import mail
from django.utils import timezone

from sharing.models import Share, ShareExclusion, Study
from sharing.shares import lifecycle
from sharing.shares.lifecycle import TRANSITIONS, Contact, Event, Stage
from tests.conftest import upload_files
from tests.sharing.conftest import run_pipeline
from tests.sharing.shares.test_pipeline_and_landing import share_by_email

SHARING = Path(__file__).resolve().parents[3] / "sharing"
# A write of the life-cycle fields: `share.status = …`, or `status=` inside `.update(` / `Share(`.
FIELDS = r"(status|step|generation|delivered_generation|delivered_at)"
ATTRIBUTE_WRITE = re.compile(rf"\b\w+\.{FIELDS}\s*(=|\+=)[^=]")
KEYWORD_WRITE = re.compile(rf"(\.update\(|\bShare\()[^)]*\b{FIELDS}\s*=[^=]", re.S)


def test_only_the_life_cycle_module_writes_status_step_generation_or_delivery():
    writers = []
    for source in SHARING.rglob("*.py"):
        if source.name == "lifecycle.py" or "migrations" in source.parts:
            continue
        text = source.read_text()
        if ATTRIBUTE_WRITE.search(text) or KEYWORD_WRITE.search(text):
            writers.append(str(source.relative_to(SHARING)))
    assert writers == [], f"these modules change a share's state outside lifecycle.py: {writers}"


def test_the_table_names_one_contact_rule_for_every_failure_and_what_follows_each_outcome():
    failures = [event for event, rule in TRANSITIONS.items() if rule.target == Share.Status.FAILED]
    assert failures and all(TRANSITIONS[e].contact is Contact.FAILURE_RULE for e in failures), "one rule for every failure"
    assert TRANSITIONS[Event.DELIVERED].contact is Contact.ERASE and TRANSITIONS[Event.REVOKED].contact is Contact.ERASE
    assert TRANSITIONS[Event.CREATED].then == TRANSITIONS[Event.RESENT].then == Stage.PREPARE
    assert TRANSITIONS[Event.PREPARED].then == Stage.DELIVER and TRANSITIONS[Event.DELIVERED].then is None
    reached = {rule.target for rule in TRANSITIONS.values()} - {None}
    assert reached == set(Share.Status.values), "every status is reached by some event"


@pytest.mark.django_db
def test_a_failed_delivery_erases_the_contact(api, study, settings):
    settings.EMAIL_BACKEND = "tests.sharing.delivery.failing_backends.RefusingBackend"
    share = run_pipeline(share_by_email(api, study))
    assert share.status == "failed" and share.delivery_secret is None, "nothing will be sent to it: erased"
    assert share.step == "" and "refused" in share.error


@pytest.fixture
def broken_text_detector(monkeypatch):
    """Text detection fails, so no image can be verified clean: each is excluded, acceptably.
    Calling the fixture's value restores the detector."""
    from anonymizer.pixels.text_detection import TextEngine, load_text_engine

    load_text_engine()  # loaded (and probed) before the detector breaks
    real_detect = TextEngine.detect

    def broken(self, image):
        raise RuntimeError("onnxruntime failed")

    monkeypatch.setattr(TextEngine, "detect", broken)
    return lambda: monkeypatch.setattr(TextEngine, "detect", real_detect)


def unverifiable_only_study(api, exam, tmp_path) -> Study:
    """A study of one still, which the broken detector leaves unverified."""
    assert upload_files(api, [exam[1]]).status_code == 201
    return Study.objects.get()


@pytest.mark.django_db
def test_a_failure_staff_can_resolve_by_review_keeps_the_contact_until_they_accept(api, exam, tmp_path,
                                                                                   broken_text_detector):
    share = run_pipeline(share_by_email(api, unverifiable_only_study(api, exam, tmp_path)))
    assert share.status == "failed" and "Review the exclusions" in share.error
    assert share.delivery_secret is not None, "accepting the image can still deliver: the contact is held"
    exclusion = ShareExclusion.objects.get(share=share)
    assert exclusion.acceptable
    from sharing.shares.service import accept_exclusion

    broken_text_detector()  # restored

    accept_exclusion(exclusion)
    share = run_pipeline(share)
    assert share.status == "sent" and len(mail.outbox) == 1, "delivered without typing the contact again"
    assert share.delivery_secret is None and share.error == ""


@pytest.mark.django_db
def test_the_contact_of_a_link_that_has_ended_is_erased_by_the_sweep(api, exam, tmp_path, broken_text_detector):
    from sharing.shares.sweep import sweep_stuck_shares

    share = run_pipeline(share_by_email(api, unverifiable_only_study(api, exam, tmp_path)))
    assert share.delivery_secret is not None
    Share.objects.filter(pk=share.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    sweep_stuck_shares()
    assert Share.objects.get(pk=share.pk).delivery_secret is None, "a dead link is never delivered: erased"


@pytest.mark.django_db
def test_a_resend_is_a_new_generation_and_a_stale_task_does_nothing(api, study):
    from sharing.shares.service import resend_share

    share = run_pipeline(share_by_email(api, study))
    old = share.generation
    resend_share(share, email="jane.patient@example.org")
    share.refresh_from_db()
    assert (share.status, share.generation, share.step) == ("queued", old + 1, "")
    assert lifecycle.run_here(share.pk, old) == lifecycle.NOTHING and len(mail.outbox) == 1, "the old generation sends nothing"
    assert run_pipeline(share).status == "sent" and len(mail.outbox) == 2
