"""No input makes the REST API answer 5xx (issue 16, point 5): schemathesis generates requests for
every operation in the portal's own OpenAPI schema, valid and invalid, and sends them over HTTP to
a live server as a signed-in integration.

Bounded for the suite: FUZZ_EXAMPLES examples per operation and mode (default 15), derandomized
so every run sends the same requests; raise FUZZ_EXAMPLES to search further.
"""

from __future__ import annotations

import os

import pytest
import requests
import hypothesis
import schemathesis
from schemathesis.generation import GenerationMode
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))


@pytest.fixture
def api_token(staff) -> str:
    return Token.objects.create(user=staff).key


def load_schema(base: str, token: str):
    document = requests.get(f"{base}/api/v1/schema/?format=json", headers={"Authorization": f"Token {token}"}, timeout=10)
    assert document.status_code == 200, document.text[:300]
    schema = schemathesis.openapi.from_dict(document.json())
    schema.config.generation.update(allow_x00=True)
    return schema


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_request_makes_the_api_fail(live_server, api_token, settings, mode):
    settings.RATELIMIT_ENABLE = False
    # The JSON API; STOW-RS (/dicomweb/, multipart/related DICOM) has tests of its own.
    operations = [operation for operation in (result.ok() for result in load_schema(live_server.url, api_token).get_all_operations())
                  if operation.path.startswith("/api/")]
    assert len(operations) >= 7, "the schema lists every API operation"
    failures, sent = [], []

    for operation in operations:
        @hypothesis.settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                             suppress_health_check=list(hypothesis.HealthCheck), phases=[hypothesis.Phase.generate])
        @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
        def send(case):
            response = case.call(base_url=live_server.url, headers={"Authorization": f"Token {api_token}"}, timeout=30)
            sent.append(operation.label)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {case.as_curl_command()}")

        send()
    assert not failures, "\n".join(failures[:10])
    assert len(set(sent)) == len(operations), "every operation was exercised"
