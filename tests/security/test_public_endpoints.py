"""What anonymous callers reach (issue 16, point 12): the API schema and docs need a signed-in user
unless API_DOCS_PUBLIC opens them, and /readyz does not write to storage on every call.
Plain HTTP against a live server."""

from __future__ import annotations

import pytest
import requests
from django.core.files.storage import FileSystemStorage
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db(transaction=True)


def signed_in_session(base: str, username: str = "alice", password: str = "pw-alice") -> requests.Session:
    session = requests.Session()
    session.get(f"{base}/login/")
    session.post(f"{base}/login/", data={"username": username, "password": password,
                                         "csrfmiddlewaretoken": session.cookies["csrftoken"]})
    return session


def test_schema_and_docs_need_a_signed_in_user(live_server, staff):
    base = live_server.url
    schema = requests.get(f"{base}/api/v1/schema/")
    assert schema.status_code in (401, 403) and "/api/v1/shares/" not in schema.text, "no map of the API for strangers"
    docs = requests.get(f"{base}/api/v1/docs/", allow_redirects=False)
    assert docs.status_code == 302 and docs.headers["Location"] == "/login/?next=/api/v1/docs/", \
        "a browser is sent to sign in, and back to the docs after"

    token = Token.objects.create(user=staff)
    by_token = requests.get(f"{base}/api/v1/schema/", headers={"Authorization": f"Token {token.key}"})
    assert by_token.status_code == 200 and "/api/v1/shares/" in by_token.text, "an integration's token reads the schema"
    session = signed_in_session(base)
    page = session.get(f"{base}/api/v1/docs/")
    assert page.status_code == 200 and "swagger" in page.text.lower()
    assert session.get(f"{base}/api/v1/docs/?script=").status_code == 200
    assert session.get(f"{base}/api/v1/schema/").status_code == 200, "the docs page loads the schema with the session"


def test_a_setting_opens_the_docs(live_server, settings, db):
    settings.API_DOCS_PUBLIC = True
    assert requests.get(f"{live_server.url}/api/v1/schema/").status_code == 200
    assert requests.get(f"{live_server.url}/api/v1/docs/", allow_redirects=False).status_code == 200


@pytest.fixture
def storage_writes(monkeypatch) -> list[str]:
    """Every file the default (filesystem) storage writes, by name: a spy, the writes still happen."""
    written = []
    real_save = FileSystemStorage._save

    def counting_save(self, name, content):
        written.append(name)
        return real_save(self, name, content)

    monkeypatch.setattr(FileSystemStorage, "_save", counting_save)
    return written


def test_readiness_does_not_write_to_storage_on_every_call(live_server, settings, storage_writes):
    settings.READYZ_STORAGE_PROBE_SECONDS = 60
    for _ in range(20):
        response = requests.get(f"{live_server.url}/readyz")
        assert response.json()["checks"]["storage"]["ok"] is True
    assert len(storage_writes) == 1, f"20 probes wrote {len(storage_writes)} objects"
    settings.READYZ_STORAGE_PROBE_SECONDS = 0  # the period is over
    requests.get(f"{live_server.url}/readyz")
    assert len(storage_writes) == 2, "once the period is over, storage is probed again"
