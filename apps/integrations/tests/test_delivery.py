"""Deliveries to a receiver on 127.0.0.1: signatures, retries, disabling, redirects, time-outs, redelivery, rotation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from apps.common.tenancy import tenant_context
from apps.integrations.models import WebhookEndpoint
from apps.integrations.tests.conftest import detail, redeliver

pytestmark = pytest.mark.django_db


def _ping(owner_api, endpoint_id, run_jobs) -> dict:
    with run_jobs():
        response = owner_api.post(f"{detail(endpoint_id)}test/")
    assert response.status_code == 202, response.content
    return response.json()


def _deliveries(owner_api, endpoint_id) -> list[dict]:
    response = owner_api.get(f"{detail(endpoint_id)}deliveries/")
    assert response.status_code == 200, response.content
    return response.json()["results"]


def _verify(secret: str, request) -> dict:
    return Webhook(secret).verify(request.body, request.headers)


def test_the_signature_verifies_with_the_standardwebhooks_library(owner_api, make_endpoint, receiver, run_jobs):
    endpoint = make_endpoint()
    assert endpoint["secret"].startswith("whsec_")
    sent = _ping(owner_api, endpoint["id"], run_jobs)

    [request] = receiver.hooks
    payload = _verify(endpoint["secret"], request)
    assert payload["type"] == "ping"
    assert payload["data"]["endpoint_id"] == endpoint["id"]
    assert request.header("webhook-id") == sent["webhook_id"]
    assert request.header("content-type") == "application/json"
    with pytest.raises(WebhookVerificationError):  # another secret does not verify it
        Webhook("whsec_" + "A" * 43 + "=").verify(request.body, request.headers)
    [logged] = _deliveries(owner_api, endpoint["id"])
    assert (logged["status"], logged["attempts"], logged["response_code"]) == ("succeeded", 1, 200)
    assert logged["response_body"] == '{"received": true}'


def test_a_receiver_failing_twice_gets_the_event_three_times_under_one_webhook_id(
    owner_api, make_endpoint, receiver, run_jobs
):
    endpoint = make_endpoint()
    receiver.fail(2)
    _ping(owner_api, endpoint["id"], run_jobs)

    assert len(receiver.hooks) == 3
    assert len({r.header("webhook-id") for r in receiver.hooks}) == 1
    assert len({r.body for r in receiver.hooks}) == 1  # the same bytes every time
    for request in receiver.hooks:
        _verify(endpoint["secret"], request)
    [logged] = _deliveries(owner_api, endpoint["id"])
    assert (logged["status"], logged["attempts"], logged["response_code"]) == ("succeeded", 3, 200)
    assert logged["webhook_id"] == receiver.hooks[0].header("webhook-id")


def test_a_receiver_that_always_fails_ends_disabled_and_its_creator_is_mailed(
    owner_api, owner, make_endpoint, receiver, run_jobs
):
    endpoint = make_endpoint()
    receiver.always_fail()
    mail.outbox.clear()

    _ping(owner_api, endpoint["id"], run_jobs)  # 3 attempts, failed for good: 1 failure in a row
    assert owner_api.get(detail(endpoint["id"])).json()["active"] is True
    _ping(owner_api, endpoint["id"], run_jobs)  # 2 in a row: WEBHOOKS_DISABLE_AFTER_FAILURES

    assert len(receiver.hooks) == 6
    shown = owner_api.get(detail(endpoint["id"])).json()
    assert shown["active"] is False
    assert shown["disabled_at"] is not None
    assert [(d["status"], d["attempts"], d["response_code"]) for d in _deliveries(owner_api, endpoint["id"])] == [
        ("failed", 3, 500)
    ] * 2
    [notice] = [m for m in mail.outbox if "disabled" in m.subject]
    assert notice.to == [owner.email]
    assert receiver.url in notice.body

    # Disabled: nothing more is sent, a test is refused, until it is enabled again.
    assert owner_api.post(f"{detail(endpoint['id'])}test/").status_code == 409
    enabled = owner_api.patch(detail(endpoint["id"]), {"active": True}, format="json")
    assert (enabled.json()["active"], enabled.json()["disabled_at"]) == (True, None)


def test_a_redirect_is_a_failure_and_is_not_followed(owner_api, make_endpoint, receiver, run_jobs, settings):
    settings.WEBHOOKS_RETRY_SCHEDULE = []  # one attempt
    endpoint = make_endpoint()
    receiver.answer(302)
    _ping(owner_api, endpoint["id"], run_jobs)

    assert [r.path for r in receiver.requests] == ["/hook"]  # /elsewhere was never asked
    [logged] = _deliveries(owner_api, endpoint["id"])
    assert (logged["status"], logged["response_code"]) == ("failed", 302)
    assert "redirects are not followed" in logged["error"]


def test_a_receiver_that_hangs_is_given_up_on_at_the_time_out(owner_api, make_endpoint, receiver, run_jobs, settings):
    settings.WEBHOOKS_RETRY_SCHEDULE = []
    settings.WEBHOOKS_TIMEOUT = 0.5
    endpoint = make_endpoint()
    receiver.hang(3)
    _ping(owner_api, endpoint["id"], run_jobs)

    [logged] = _deliveries(owner_api, endpoint["id"])
    assert (logged["status"], logged["response_code"]) == ("failed", None)
    assert "no answer within" in logged["error"]
    assert logged["duration_ms"] < 2500


def test_a_redelivery_sends_the_same_body_under_the_same_webhook_id(owner_api, make_endpoint, receiver, run_jobs):
    endpoint = make_endpoint()
    sent = _ping(owner_api, endpoint["id"], run_jobs)
    with run_jobs():
        response = owner_api.post(redeliver(sent["id"]))
    assert response.status_code == 202, response.content

    first, again = receiver.hooks
    assert again.header("webhook-id") == first.header("webhook-id") == sent["webhook_id"]
    assert again.body == first.body
    _verify(endpoint["secret"], again)
    [logged] = _deliveries(owner_api, endpoint["id"])
    assert (logged["status"], logged["attempts"]) == ("succeeded", 2)


def test_rotation_keeps_the_old_secret_valid_during_the_overlap_only(
    owner_api, make_endpoint, receiver, run_jobs, tenant
):
    endpoint = make_endpoint()
    old = endpoint["secret"]
    rotated = owner_api.post(f"{detail(endpoint['id'])}rotate-secret/")
    assert rotated.status_code == 200, rotated.content
    new = rotated.json()["secret"]
    assert new.startswith("whsec_")
    assert new != old
    assert "secret" not in owner_api.get(detail(endpoint["id"])).json()  # shown once

    _ping(owner_api, endpoint["id"], run_jobs)
    during = receiver.hooks[-1]
    assert len(during.header("webhook-signature").split(" ")) == 2
    _verify(old, during)  # a receiver not yet switched over still verifies
    _verify(new, during)

    with tenant_context(tenant):  # the overlap is over
        WebhookEndpoint.objects.filter(id=endpoint["id"]).update(
            previous_secret_expires_at=timezone.now() - timedelta(seconds=1)
        )
    _ping(owner_api, endpoint["id"], run_jobs)
    after = receiver.hooks[-1]
    _verify(new, after)
    with pytest.raises(WebhookVerificationError):
        _verify(old, after)


def test_the_secret_is_stored_encrypted(owner_api, make_endpoint, tenant):
    endpoint = make_endpoint()
    with tenant_context(tenant):
        stored = WebhookEndpoint.objects.get(id=endpoint["id"]).secret_encrypted
    assert endpoint["secret"] not in stored
    assert endpoint["secret"].removeprefix("whsec_") not in stored


def test_a_changed_secret_key_decrypts_through_its_fallback_and_fails_cleanly_without(
    owner_api, make_endpoint, receiver, run_jobs, settings
):
    settings.WEBHOOKS_RETRY_SCHEDULE = []
    endpoint = make_endpoint()
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-new-secret-key-" + "x" * 40, [settings.SECRET_KEY]
    _ping(owner_api, endpoint["id"], run_jobs)
    _verify(endpoint["secret"], receiver.hooks[-1])

    settings.SECRET_KEY_FALLBACKS = []
    _ping(owner_api, endpoint["id"], run_jobs)
    assert len(receiver.hooks) == 1  # nothing it could sign was sent
    newest = _deliveries(owner_api, endpoint["id"])[0]
    assert newest["status"] == "failed"
    assert "rotate" in newest["error"]
