"""Stripe deliveries racing each other on committed data (docs/security.md, "Faults: nothing lost").

apps/billing/tests/test_stripe_webhooks.py races two deliveries in threads, but
inside the test's own transaction: the threads' connections cannot see the
subscription the test made (it is never committed). Here the test's data is
committed (transactional test), and each delivery runs on its own connection
at the same moment, as two web workers would: the same event twice is recorded
and applied once; two events out of order end in the newer one's state.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections
from rest_framework.test import APIClient

from apps.billing.models import BillingCustomer, StripeEvent
from apps.billing.services.plans import plan_seed
from apps.billing.services.subscriptions import subscription_create
from apps.billing.tests.conftest import WEBHOOK_SECRET, WEBHOOK_URL, signature_header, stripe_event
from apps.billing.tests.test_stripe_webhooks import applied_count, state, sub_obj
from apps.common.models import OutboxMessage
from apps.common.tenancy import tenant_context

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def subscribed(tenant, settings):  # type: ignore[no-untyped-def]
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    plan_seed()
    with tenant_context(tenant):
        subscription_create(tenant=tenant)
    BillingCustomer.objects.create(provider="stripe", customer_id="cus_123", tenant=tenant)
    return tenant


def deliver_at_once(*payloads: bytes) -> list[int]:
    """POST every payload from its own thread (its own connection), released together by a barrier."""
    barrier = threading.Barrier(len(payloads))
    statuses: list[int] = []

    def post(payload: bytes) -> None:
        try:
            barrier.wait(timeout=10)
            response = APIClient().post(
                WEBHOOK_URL,
                data=payload,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=signature_header(payload),
            )
            statuses.append(response.status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post, args=(payload,)) for payload in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return statuses


def test_the_same_event_delivered_twice_at_once_on_committed_data_is_applied_once(subscribed):
    payload = stripe_event("evt_race_committed", "customer.subscription.updated", sub_obj(subscribed, "active"))
    assert deliver_at_once(payload, payload) == [200, 200]
    assert StripeEvent.objects.filter(event_id="evt_race_committed").count() == 1
    assert OutboxMessage.objects.filter(job_path__endswith="stripe_event_apply_job").count() == 1
    assert applied_count(subscribed) == 1
    assert state(subscribed) == ("pro", "active")


def test_two_events_racing_out_of_order_end_in_the_newer_state(subscribed):
    now = int(time.time())
    older = stripe_event("evt_old", "customer.subscription.updated", sub_obj(subscribed, "past_due"), created=now - 60)
    newer = stripe_event("evt_new", "customer.subscription.updated", sub_obj(subscribed, "active"), created=now)
    assert deliver_at_once(newer, older) == [200, 200]
    assert StripeEvent.objects.filter(event_id__in=["evt_old", "evt_new"]).count() == 2
    assert state(subscribed) == ("pro", "active")
