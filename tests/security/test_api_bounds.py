"""Every API input is bounded (issue 16, point 5): numbers past the database's range, JSON nested
100,000 deep, oversized JSON bodies, NUL characters and huge offsets answer 400 (or an empty page),
never 500. Plain HTTP against a live server."""

from __future__ import annotations

import pytest
import requests
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def http(live_server, staff, settings):
    settings.RATELIMIT_ENABLE = False
    session = requests.Session()
    session.headers["Authorization"] = f"Token {Token.objects.create(user=staff).key}"
    session.base = live_server.url
    return session


def post_json(http, path: str, body: str | bytes) -> requests.Response:
    return http.post(http.base + path, data=body, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("body, field", [
    ('{"study": 1, "email": "p@example.org", "instances": [9223372036854775808]}', "instances"),
    ('{"study": 9223372036854775808, "email": "p@example.org"}', "study"),
    ('{"study": -1, "email": "p@example.org"}', "study"),
    ('{"study": 1, "email": "p@example.org", "instances": [1e400]}', "instances"),
    ('{"study": 1, "email": "p@example.org", "expires_in_days": 99999999999999999999999}', "expires_in_days"),
    ('{"study": 1, "email": "p@example.org", "passcode": "' + "x" * 100 + '"}', "passcode"),
    ('{"study": 1, "email": "p@example.org", "instances": [' + ",".join(["1"] * 10_001) + "]}", "instances"),
])
def test_numbers_and_lists_past_their_bounds_get_a_field_error(http, body, field):
    response = post_json(http, "/api/v1/shares/", body)
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert field in response.json(), response.json()


def test_json_nested_100000_deep_is_a_400(http):
    response = post_json(http, "/api/v1/shares/", "[" * 100_000 + "]" * 100_000)
    assert response.status_code == 400 and "nested" in response.json()["detail"]
    response = post_json(http, "/api/v1/shares/", '{"study": ' + "[" * 40 + "]" * 40 + "}")
    assert response.status_code == 400 and "nested" in response.json()["detail"], "deep but parseable is refused too"


def test_an_oversized_json_body_is_a_400(http, settings):
    body = b'{"study": 1, "email": "' + b"a" * settings.API_JSON_MAX_BYTES + b'"}'
    response = post_json(http, "/api/v1/shares/", body)
    assert response.status_code == 400 and "larger than" in response.json()["detail"]


@pytest.mark.parametrize("path", [
    "/api/v1/shares/9223372036854775808/", "/api/v1/studies/99999999999999999999999/",
    "/api/v1/shares/9223372036854775808/revoke/",
])
def test_ids_past_the_database_range_are_not_found(http, path):
    method = http.post if path.endswith("revoke/") else http.get
    assert method(http.base + path).status_code == 404


def test_list_parameters_are_bounded(http):
    assert http.get(http.base + "/api/v1/studies/?offset=9223372036854775808").json()["results"] == []
    assert http.get(http.base + "/api/v1/studies/?limit=100000").status_code == 200
    response = http.get(http.base + "/api/v1/studies/", params={"search": "doe\x00"})
    assert response.status_code == 400 and "search" in response.json()
    assert http.get(http.base + "/api/v1/studies/", params={"search": "x" * 201}).status_code == 400


@pytest.mark.django_db
def test_the_staff_study_list_search_takes_a_nul(staff):
    from django.test import Client

    client = Client()
    client.force_login(staff)
    assert client.get("/studies/", {"q": "doe\x00jane"}).status_code == 200
