"""Delivery channels as a registry: the channel is chosen explicitly or inferred as before, and
WhatsApp (one entry, one module) delivers through its outbox and Twilio's WhatsApp API."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest

from sharing.delivery.channels import CHANNELS
from sharing.models import Share
from tests.integration.reliability.conftest import FakeTwilio
from tests.sharing.conftest import IDENTIFIERS, link_from, run_pipeline

pytestmark = pytest.mark.django_db
PHONE = "+1 202 555 0143"


def share_by(api, study, **contact) -> Share:
    response = api.post("/api/v1/shares/", {"study": study.pk, **contact}, format="json")
    assert response.status_code == 202, response.content
    return Share.objects.get(pk=response.json()["id"])


def test_every_channel_declares_its_contact_templates_and_a_short_name():
    assert {"email", "sms", "whatsapp"} <= set(CHANNELS)
    for name, channel in CHANNELS.items():
        assert channel.name == name and len(name) <= 8, "Share.channel holds 8 characters"
        assert channel.contact_field in ("email", "phone") and "body" in channel.templates


def test_whatsapp_share_goes_to_the_whatsapp_outbox_with_the_link_only(api, study, sms_outbox):
    share = run_pipeline(share_by(api, study, phone=PHONE, channel="whatsapp"))
    assert share.status == "sent" and share.channel == "whatsapp" and share.contact_masked == "+1 ••• ••• 0143"
    [message] = sms_outbox
    assert message.channel == "whatsapp" and message.to == "+12025550143"
    assert link_from(message.body) and message.variables["2"] == link_from(message.body)
    for identifier in IDENTIFIERS:
        assert identifier.upper() not in message.body.upper(), f"{identifier} in the WhatsApp message"
    assert share.events.filter(kind="delivered", detail="WhatsApp").exists()


def test_whatsapp_message_speaks_the_clinic_language(api, study, clinic, sms_outbox):
    clinic.language = "de"
    clinic.save()
    run_pipeline(share_by(api, study, phone=PHONE, channel="whatsapp"))
    assert "Ultraschalluntersuchung" in sms_outbox[0].body and link_from(sms_outbox[0].body)


def test_whatsapp_file_outbox_holds_the_link(api, study, settings, tmp_path):
    settings.WHATSAPP_BACKEND = "file"
    settings.WHATSAPP_OUTBOX_DIR = tmp_path / "outbox" / "whatsapp"
    share = run_pipeline(share_by(api, study, phone=PHONE, channel="whatsapp"))
    [written] = list(settings.WHATSAPP_OUTBOX_DIR.glob("*.json"))
    payload = json.loads(written.read_text())
    assert payload["channel"] == "whatsapp" and payload["to"] == "+12025550143" and link_from(payload["body"])
    assert share.public_id.hex in written.name and PHONE.replace(" ", "") not in written.name


def test_without_a_channel_the_contact_decides_as_before(api, study):
    assert share_by(api, study, email="a@example.org").channel == "email"
    assert share_by(api, study, phone=PHONE).channel == "sms"


@pytest.mark.parametrize("payload, field", [
    ({"email": "a@example.org", "channel": "whatsapp"}, "phone"),
    ({"phone": PHONE, "channel": "email"}, "email"),
    ({"phone": PHONE, "email": "a@example.org", "channel": "sms"}, "phone"),
    ({"phone": PHONE, "channel": "pigeon"}, "channel"),
    ({"phone": "12", "channel": "whatsapp"}, "phone"),
])
def test_a_contact_that_does_not_fit_the_channel_is_a_field_error(api, study, payload, field):
    response = api.post("/api/v1/shares/", {"study": study.pk, **payload}, format="json")
    assert response.status_code == 400 and field in response.json(), response.content
    assert Share.objects.count() == 0


def test_staff_choose_whatsapp_on_the_study_page(client, staff, study, sms_outbox):
    client.force_login(staff)
    page = client.get(f"/studies/{study.pk}/").content.decode()
    assert 'name="channel"' in page and 'value="whatsapp"' in page
    response = client.post(f"/studies/{study.pk}/share/", {"phone": PHONE, "channel": "whatsapp", "expires_in_days": 7})
    assert response.status_code == 302
    share = Share.objects.get()
    assert share.channel == "whatsapp"
    client.post(f"/shares/{share.pk}/resend/", {"channel": "sms"})
    assert Share.objects.get().channel == "sms", "the resend form switches the held number to SMS"


def test_resend_keeps_the_channel_for_a_number_and_can_switch_to_whatsapp(api, study, sms_outbox):
    share = run_pipeline(share_by(api, study, phone=PHONE, channel="whatsapp"))
    again = api.post(f"/api/v1/shares/{share.pk}/resend/", {"phone": "+1 202 555 0144"}, format="json")
    assert again.status_code == 202 and Share.objects.get(pk=share.pk).channel == "whatsapp"
    sms = share_by(api, study, phone=PHONE)
    switched = api.post(f"/api/v1/shares/{sms.pk}/resend/", {"channel": "whatsapp"}, format="json")
    assert switched.status_code == 202, "the held number goes out by WhatsApp instead"
    assert Share.objects.get(pk=sms.pk).channel == "whatsapp"


@pytest.fixture
def twilio_whatsapp(settings):
    servers = []

    def start(statuses):
        servers.append(FakeTwilio(statuses))
        settings.WHATSAPP_BACKEND = "twilio"
        settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = "AC123", "secret"
        settings.TWILIO_WHATSAPP_FROM, settings.TWILIO_API_BASE = "+15005550006", servers[-1].url
        settings.DELIVERY_RETRY_BASE_SECONDS = 0
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def deliver_with_the_worker_task(share: Share) -> Share:
    """Prepare in process, then run the production delivery task (eagerly, retries included)."""
    from sharing.shares import lifecycle
    from sharing.tasks import deliver_share

    assert lifecycle.prepare(share.pk, share.generation) == lifecycle.Next(lifecycle.Stage.DELIVER)
    deliver_share.apply(args=(share.pk, share.generation))
    share.refresh_from_db()
    return share


def test_whatsapp_provider_errors_are_retried_with_one_key_and_refusals_fail(api, study, twilio_whatsapp, settings):
    fake = twilio_whatsapp([503, 429, 201])
    sent = deliver_with_the_worker_task(share_by(api, study, phone=PHONE, channel="whatsapp"))
    assert sent.status == "sent" and len(fake.requests) == 3
    assert len({r["key"] for r in fake.requests}) == 1, "every retry carries the same idempotency key"
    form = parse_qs(fake.requests[-1]["body"])
    assert form["To"] == ["whatsapp:+12025550143"] and form["From"] == ["whatsapp:+15005550006"]
    assert link_from(form["Body"][0])

    fake.statuses = [400]
    refused = deliver_with_the_worker_task(share_by(api, study, phone="+1 202 555 0144", channel="whatsapp"))
    assert refused.status == "failed" and "Twilio refused" in refused.error
    assert refused.delivery_secret is None, "nothing will be sent: the contact is erased"
    assert len(fake.requests) == 4, "a refusal is not retried"


def test_whatsapp_uses_the_approved_template_when_one_is_configured(api, study, twilio_whatsapp, settings):
    fake = twilio_whatsapp([201])
    settings.TWILIO_WHATSAPP_CONTENT_SID = "HX0123456789abcdef"
    sent = deliver_with_the_worker_task(share_by(api, study, phone=PHONE, channel="whatsapp"))
    form = parse_qs(fake.requests[0]["body"])
    assert sent.status == "sent" and form["ContentSid"] == ["HX0123456789abcdef"] and "Body" not in form
    variables = json.loads(form["ContentVariables"][0])
    assert variables["1"] == study.clinic.name and link_from(variables["2"])
