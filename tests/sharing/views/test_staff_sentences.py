"""Staff read sentences, never exception names: a defect while preparing a share is excluded with a
reference to give support, a file the anonymizer refuses with a plain reason (issue 10, point 1)."""

from __future__ import annotations

import re

import pytest

from sharing.models import ShareExclusion
from tests.sharing.conftest import run_pipeline
from tests.sharing.shares.test_pipeline_and_landing import share_by_email

pytestmark = pytest.mark.django_db
EXCEPTION_NAME = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception)\b")


def test_a_defect_while_anonymizing_reaches_staff_as_a_sentence_with_a_reference(api, study, monkeypatch, client, staff):
    from anonymizer import anonymize as module

    def broken(ds, **kwargs):
        return {}["PatientName"]  # a KeyError in our own code

    monkeypatch.setattr(module, "deidentify_header", broken)
    share = run_pipeline(share_by_email(api, study))
    exclusions = list(ShareExclusion.objects.filter(share=share))
    assert exclusions, "every image hit the defect and must be listed as excluded"
    for exclusion in exclusions:
        assert re.search(r"reference ERR-[0-9A-F]{8}", exclusion.reason), exclusion.reason
        assert not EXCEPTION_NAME.search(exclusion.reason), "staff never see exception class names"
    body = api.get(f"/api/v1/shares/{share.pk}/").json()
    assert all("ERR-" in item["reason"] for item in body["excluded"])
    client.force_login(staff)
    page = client.get(f"/studies/{study.pk}/").content.decode()
    assert "ERR-" in page and not EXCEPTION_NAME.search(page), "the share history shows the sentence"


def test_a_file_the_anonymizer_refuses_is_excluded_with_a_plain_reason(api, study, monkeypatch):
    from anonymizer import anonymize as module
    from anonymizer.errors import AnonymizationError

    def refuses(ds, **kwargs):
        raise AnonymizationError("truncated file: Pixel Data ends early")

    monkeypatch.setattr(module, "deidentify_header", refuses)
    share = run_pipeline(share_by_email(api, study))
    reasons = {e.reason for e in ShareExclusion.objects.filter(share=share)}
    assert reasons == {"This image could not be anonymized: its file is damaged or uses a format the portal "
                       "cannot read yet (truncated file: Pixel Data ends early)"}
