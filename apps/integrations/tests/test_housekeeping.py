"""Retries with a wait, the hourly sweep (overdue deliveries, retention), idempotent attempts, and the metrics."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rq.registry import ScheduledJobRegistry

from apps.common.outbox import rq_queue
from apps.common.tenancy import tenant_context
from apps.integrations.models import WebhookDelivery, WebhookEvent
from apps.integrations.services.delivery import delivery_attempt, webhook_retry_due
from apps.integrations.services.housekeeping import webhooks_sweep_all
from apps.integrations.tests.conftest import detail

pytestmark = pytest.mark.django_db

Status = WebhookDelivery.Status


def _delivery(tenant, endpoint_id, **fields) -> WebhookDelivery:
    with tenant_context(tenant):
        event = WebhookEvent.objects.create(type="member.added", payload={"user_id": "u"})
        return WebhookDelivery.objects.create(endpoint_id=endpoint_id, event=event, message_id="msg_x", **fields)


def test_a_retry_with_a_wait_is_scheduled_and_sent_once_due(
    owner_api, make_endpoint, receiver, run_jobs, settings, tenant
):
    settings.WEBHOOKS_RETRY_SCHEDULE = [60]
    endpoint = make_endpoint()
    receiver.fail(1)
    with run_jobs():
        sent = owner_api.post(f"{detail(endpoint['id'])}test/").json()
    assert len(receiver.hooks) == 1
    with tenant_context(tenant):
        delivery = WebhookDelivery.objects.get(id=sent["id"])
    assert delivery.status == Status.PENDING
    assert timedelta(seconds=55) < delivery.next_attempt_at - timezone.now() <= timedelta(seconds=60)
    assert ScheduledJobRegistry(queue=rq_queue("webhooks")).get_job_count() == 1

    with run_jobs():  # the scheduler fires early (or a duplicate): not due, nothing is sent
        webhook_retry_due(tenant_id=str(tenant.id), delivery_id=sent["id"])
    assert len(receiver.hooks) == 1

    with tenant_context(tenant):
        WebhookDelivery.objects.filter(id=sent["id"]).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    with run_jobs():
        webhook_retry_due(tenant_id=str(tenant.id), delivery_id=sent["id"])
    assert len(receiver.hooks) == 2
    with tenant_context(tenant):
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts, len(delivery.log)) == (Status.SUCCEEDED, 2, 2)
        assert delivery_attempt(delivery_id=sent["id"]) is None  # done: a late duplicate sends nothing
    assert len(receiver.hooks) == 2


def test_the_sweep_defers_overdue_deliveries_and_leaves_the_rest(make_endpoint, receiver, run_jobs, tenant):
    endpoint = make_endpoint()
    now = timezone.now()
    overdue = _delivery(tenant, endpoint["id"], next_attempt_at=now - timedelta(minutes=10))
    waiting = _delivery(tenant, endpoint["id"], next_attempt_at=now + timedelta(minutes=10))
    fresh = _delivery(tenant, endpoint["id"])  # its first attempt is on its way (the outbox)
    crashed = _delivery(tenant, endpoint["id"])
    with tenant_context(tenant):
        WebhookDelivery.objects.filter(id=crashed.id).update(created_at=now - timedelta(hours=1))

    with run_jobs():
        swept = webhooks_sweep_all()
    assert swept.deferred == 2
    with tenant_context(tenant):
        statuses = dict(WebhookDelivery.objects.values_list("id", "status"))
    assert statuses == {
        overdue.id: Status.SUCCEEDED,
        crashed.id: Status.SUCCEEDED,
        waiting.id: Status.PENDING,
        fresh.id: Status.PENDING,
    }
    assert len(receiver.hooks) == 2


def test_the_sweep_deletes_the_log_past_retention_but_never_a_pending_delivery(make_endpoint, tenant, settings):
    settings.WEBHOOKS_DELIVERY_RETENTION_DAYS = 30
    endpoint = make_endpoint()
    old = _delivery(tenant, endpoint["id"], status=Status.SUCCEEDED)
    old_pending = _delivery(tenant, endpoint["id"], next_attempt_at=timezone.now() + timedelta(hours=1))
    recent = _delivery(tenant, endpoint["id"], status=Status.FAILED)
    with tenant_context(tenant):
        long_ago = timezone.now() - timedelta(days=31)
        WebhookEvent.objects.filter(id__in=[old.event_id, old_pending.event_id]).update(created_at=long_ago)

    assert webhooks_sweep_all().purged == 2  # the old event and its delivery
    with tenant_context(tenant):
        assert set(WebhookDelivery.objects.values_list("id", flat=True)) == {old_pending.id, recent.id}


def test_the_metrics_count_outcomes_and_disabled_endpoints(
    owner_api, make_endpoint, receiver, run_jobs, settings, client
):
    endpoint = make_endpoint()
    receiver.always_fail()
    for _ in range(2):  # two deliveries failed for good: disabled
        with run_jobs():
            owner_api.post(f"{detail(endpoint['id'])}test/")
    settings.METRICS_TOKEN, settings.DEBUG = "", True

    text = client.get("/metrics").content.decode()
    assert 'atrium_webhook_deliveries_total{outcome="retried"} 4.0' in text
    assert 'atrium_webhook_deliveries_total{outcome="failed"} 2.0' in text
    assert "atrium_webhook_endpoints_disabled 1.0" in text
    assert "atrium_webhook_retry_queue_depth 0.0" in text

    with run_jobs():
        owner_api.patch(detail(endpoint["id"]), {"active": True}, format="json")
    assert "atrium_webhook_endpoints_disabled 0.0" in client.get("/metrics").content.decode()
