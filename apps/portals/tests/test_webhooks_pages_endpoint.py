"""One webhook endpoint's page: change its settings, send a test event, rotate the secret, delete it, redeliver.

Deliveries go to a receiver on 127.0.0.1 (private addresses allowed, as on-premises); the request's after-commit
work (the outbox, hence the delivery job, inline) runs inside `committed()`, as after a real commit.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from apps.common.tenancy import tenant_context
from apps.integrations.models import WebhookEndpoint
from apps.portals.tests import webhooks_support
from apps.portals.tests.conftest import csrf_post
from apps.portals.tests.webhooks_support import (
    deliveries_of,
    endpoint_url,
    endpoints_of,
    hooks_url,
    make_endpoint,
    redeliver_url,
    stored_secret,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded", "hooks_settings", "pro_plan")]

# The receiver on 127.0.0.1 and the webhook settings (webhooks_support).
receiver = webhooks_support.receiver
hooks_settings = webhooks_support.hooks_settings

SECRET_RE = re.compile(r"whsec_[A-Za-z0-9+/=]+")


@pytest.fixture
def endpoint(tenant, signed_in, receiver) -> WebhookEndpoint:
    """An endpoint of the signed-in owner's tenant, pointing at the receiver."""
    return make_endpoint(tenant, signed_in("owner"), receiver.url, events=["member.added"])


def edit(web, portal, endpoint, **data):
    body = {"url": endpoint.url, "description": "", "events": list(endpoint.events), "active": "on", **data}
    return csrf_post(web, endpoint_url(portal, endpoint.id), {k: v for k, v in body.items() if v is not None})


def test_the_page_shows_the_settings_and_an_empty_log(web, portal, endpoint):
    page = web.get(endpoint_url(portal, endpoint.id))
    assert page.status_code == 200
    text = page.content.decode()
    assert f'data-testid="endpoint-url">{endpoint.url}<' in text
    assert re.search(r'name="events" value="member.added"[^>]*checked', text)
    assert re.search(r'name="active"[^>]*checked', text)
    for button in ("Send test event", "Rotate secret", "Save endpoint"):
        assert f">{button}</button>" in text
    assert "Nothing has been sent to this endpoint yet." in text


def test_saving_changes_the_url_events_and_active(web, portal, endpoint, tenant, receiver):
    other = receiver.url.replace("/hook", "/other")
    response = edit(web, portal, endpoint, url=other, events=["file.deleted", "member.removed"], active=None)
    assert response.status_code == 302
    assert response["Location"] == endpoint_url(portal, endpoint.id)
    (saved,) = endpoints_of(tenant)
    assert (saved.url, saved.events, saved.active) == (other, ["file.deleted", "member.removed"], False)
    page = web.get(response["Location"]).content.decode()
    assert "is off: nothing is sent to it" in page
    assert 'data-testid="endpoint-status"><span class="status status-off">Off<' in page

    assert edit(web, portal, saved, active="on").status_code == 302
    assert endpoints_of(tenant)[0].active is True


def test_enabling_an_endpoint_disabled_by_failures_clears_them(web, portal, endpoint, tenant):
    with tenant_context(tenant):
        WebhookEndpoint.objects.filter(id=endpoint.id).update(
            active=False, disabled_at=timezone.now(), consecutive_failures=2
        )
    page = web.get(endpoint_url(portal, endpoint.id)).content.decode()
    assert "after failed deliveries" in page
    assert edit(web, portal, endpoint, active="on").status_code == 302
    (saved,) = endpoints_of(tenant)
    assert (saved.active, saved.disabled_at, saved.consecutive_failures) == (True, None, 0)


def test_a_refused_change_is_shown_on_its_field_and_changes_nothing(web, portal, endpoint, tenant, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = False
    response = edit(web, portal, endpoint, url="http://10.1.2.3/hook")
    assert response.status_code == 400
    assert re.search(r'id="id_url_error">[^<]*private', response.content.decode())
    response = edit(web, portal, endpoint, events=["nope"])
    assert response.status_code == 400
    assert 'id="id_events_error"' in response.content.decode()
    assert (endpoints_of(tenant)[0].url, endpoints_of(tenant)[0].events) == (endpoint.url, ["member.added"])


def test_send_test_event_delivers_a_signed_ping_and_the_log_shows_it(web, portal, endpoint, receiver, committed):
    with committed():
        response = csrf_post(web, endpoint_url(portal, endpoint.id, "test"))
    assert response.status_code == 302
    assert response["Location"] == endpoint_url(portal, endpoint.id)

    (hit,) = receiver.hooks
    body = Webhook(stored_secret(endpoint)).verify(hit.body, hit.headers)
    assert body["type"] == "ping"
    assert json.loads(hit.body)["data"]["endpoint_id"] == str(endpoint.id)

    page = web.get(response["Location"]).content.decode()
    assert "Test event sent: a ping is on its way" in page
    row = re.search(r'<tr data-testid="delivery-row"[^>]*data-status="(\w+)">(.*?)</tr>', page, re.S)
    assert row, page
    assert row.group(1) == "succeeded"
    cells = re.findall(r"<td>(.*?)</td>", row.group(2), re.S)
    assert "<code>ping</code>" in cells[0]
    assert cells[2:4] == ["1", "200"]  # attempts, response code


def test_a_disabled_endpoint_is_not_tested_and_the_page_says_why(web, portal, endpoint, tenant, receiver, committed):
    with tenant_context(tenant):
        WebhookEndpoint.objects.filter(id=endpoint.id).update(active=False)
    with committed():
        response = csrf_post(web, endpoint_url(portal, endpoint.id, "test"))
    assert response.status_code == 302
    assert "tick Active and save it before testing it" in web.get(response["Location"]).content.decode()
    assert receiver.requests == []
    assert deliveries_of(tenant) == []


def test_redeliver_sends_the_same_message_again(web, portal, endpoint, tenant, receiver, committed):
    receiver.fail(3)  # the first attempt and both retries fail: the delivery ends failed
    with committed():
        csrf_post(web, endpoint_url(portal, endpoint.id, "test"))
    (delivery,) = deliveries_of(tenant)
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    page = web.get(endpoint_url(portal, endpoint.id)).content.decode()
    assert redeliver_url(portal, delivery.id) in page
    assert 'data-status="failed"' in page

    with committed():
        response = csrf_post(web, redeliver_url(portal, delivery.id))
    assert response["Location"] == endpoint_url(portal, endpoint.id)
    (again,) = deliveries_of(tenant)
    assert (again.status, again.attempts) == ("succeeded", 4)
    assert {hit.header("webhook-id") for hit in receiver.hooks} == {delivery.message_id}
    page = web.get(response["Location"]).content.decode()
    assert "Redelivery queued: the ping event goes out again now." in page


def test_redelivering_to_a_disabled_endpoint_is_refused_with_a_message(
    web, portal, endpoint, tenant, receiver, committed
):
    with committed():
        csrf_post(web, endpoint_url(portal, endpoint.id, "test"))
    (delivery,) = deliveries_of(tenant)
    with tenant_context(tenant):
        WebhookEndpoint.objects.filter(id=endpoint.id).update(active=False)
    with committed():
        response = csrf_post(web, redeliver_url(portal, delivery.id))
    assert response["Location"] == endpoint_url(portal, endpoint.id)
    assert "tick Active and save it before redelivering to it" in web.get(response["Location"]).content.decode()
    assert deliveries_of(tenant)[0].attempts == 1
    assert len(receiver.hooks) == 1


def test_rotating_shows_the_new_secret_once_and_the_overlap(web, portal, endpoint, tenant):
    before = stored_secret(endpoint)
    response = csrf_post(web, endpoint_url(portal, endpoint.id, "rotate-secret"))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    text = response.content.decode()
    shown = SECRET_RE.findall(text)
    assert len(shown) == 1
    (rotated,) = endpoints_of(tenant)
    assert stored_secret(rotated) == shown[0] != before
    assert rotated.previous_secret_expires_at is not None
    assert rotated.previous_secret_expires_at - timezone.now() > timedelta(hours=23)
    overlap = re.search(r'data-testid="overlap">(.*?)</p>', text, re.S)
    assert overlap
    assert "The previous secret stays valid until" in overlap.group(1)
    assert "24 hours" in overlap.group(1)
    assert shown[0] not in web.get(endpoint_url(portal, endpoint.id)).content.decode()


def test_deleting_asks_first_then_removes_the_endpoint(web, portal, endpoint, tenant):
    confirm = web.get(endpoint_url(portal, endpoint.id, "delete"))
    assert confirm.status_code == 200
    assert endpoint.url.encode() in confirm.content
    assert len(endpoints_of(tenant)) == 1
    response = csrf_post(web, endpoint_url(portal, endpoint.id, "delete"))
    assert response.status_code == 302
    assert response["Location"] == hooks_url(portal)
    assert endpoints_of(tenant) == []
    listed = web.get(hooks_url(portal)).content.decode()
    assert f"Endpoint deleted: nothing more is sent to {endpoint.url}." in listed
    assert web.get(endpoint_url(portal, endpoint.id)).status_code == 404
