"""Stripe webhooks with payloads signed by the test as Stripe signs them: verified, recorded once, applied once."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections
from rest_framework.test import APIClient

from apps.billing.models import BillingCustomer, Invoice, StripeEvent, Subscription
from apps.billing.services.subscriptions import subscription_create
from apps.common.models import OutboxMessage
from apps.common.tenancy import tenant_context
from apps.identity.models import AuditEvent, Tenant

from .conftest import WEBHOOK_URL, signature_header, stripe_event

pytestmark = pytest.mark.django_db

APPLIED = "billing.stripe_event_applied"


def sub_obj(tenant, status: str, *, plan: str = "pro", customer: str = "cus_123") -> dict:
    now = int(time.time())
    return {
        "id": "sub_123",
        "object": "subscription",
        "customer": customer,
        "status": status,
        "metadata": {"tenant_id": str(tenant.id), "plan_code": plan},
        "current_period_start": now,
        "current_period_end": now + 30 * 86400,
        "trial_end": now + 14 * 86400 if status == "trialing" else None,
        "items": {"data": [{"id": "si_1", "price": {"id": "price_1", "lookup_key": plan}}]},
    }


def state(tenant) -> tuple[str, str]:
    with tenant_context(tenant):
        subscription = Subscription.objects.get()
    row = Tenant.objects.get(id=tenant.id)
    assert (row.plan_code, row.subscription_status) == (subscription.plan_code, subscription.status)
    return subscription.plan_code, subscription.status


def applied_count(tenant) -> int:
    with tenant_context(tenant):
        return AuditEvent.objects.filter(action=APPLIED).count()


def link_customer(tenant, customer: str = "cus_123") -> None:
    """What a completed checkout records: this Stripe customer is this tenant's."""
    BillingCustomer.objects.create(provider="stripe", customer_id=customer, tenant=tenant)


@pytest.fixture
def subscribed(tenant):
    with tenant_context(tenant):
        subscription_create(tenant=tenant)
    link_customer(tenant)
    return tenant


def test_a_valid_event_is_processed_once(deliver, subscribed):
    payload = stripe_event("evt_1", "customer.subscription.updated", sub_obj(subscribed, "active"))
    response = deliver(payload)
    assert response.status_code == 200, response.content
    assert response.json() == {"received": True, "duplicate": False}
    assert state(subscribed) == ("pro", "active")
    event = StripeEvent.objects.get(event_id="evt_1")
    assert (event.outcome, event.tenant_id) == ("applied", subscribed.id)
    assert event.processed_at
    assert BillingCustomer.objects.get(customer_id="cus_123").tenant_id == subscribed.id
    # Effects went through the outbox, as one job.
    assert OutboxMessage.objects.filter(job_path__endswith="stripe_event_apply_job").count() == 1

    again = deliver(payload)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert StripeEvent.objects.count() == 1
    assert applied_count(subscribed) == 1
    assert OutboxMessage.objects.filter(job_path__endswith="stripe_event_apply_job").count() == 1


def test_a_bad_signature_is_400_and_records_nothing(deliver, subscribed):
    payload = stripe_event("evt_bad", "customer.subscription.updated", sub_obj(subscribed, "canceled"))
    for signature in (
        signature_header(payload, secret="whsec_someone_else"),
        signature_header(payload + b" "),
        "t=1,v1=deadbeef",
        "",
    ):
        response = deliver(payload, signature=signature)
        assert response.status_code == 400
        assert response["Content-Type"].startswith("application/problem+json")
        assert response.json()["type"].endswith("/invalid_signature")
    assert not StripeEvent.objects.exists()
    assert state(subscribed) == ("free", "active")


def test_a_stale_signature_is_400(deliver, subscribed):
    payload = stripe_event("evt_old", "customer.subscription.updated", sub_obj(subscribed, "canceled"))
    response = deliver(payload, signature=signature_header(payload, timestamp=int(time.time()) - 301))
    assert response.status_code == 400
    assert not StripeEvent.objects.exists()
    # Within the 5 minutes it holds.
    assert deliver(payload, signature=signature_header(payload, timestamp=int(time.time()) - 200)).status_code == 200


def test_without_a_configured_secret_every_delivery_is_400(settings, subscribed):
    settings.STRIPE_WEBHOOK_SECRET = ""
    payload = stripe_event("evt_x", "customer.subscription.updated", sub_obj(subscribed, "active"))
    response = APIClient().post(
        WEBHOOK_URL, data=payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature_header(payload)
    )
    assert response.status_code == 400


def test_an_unknown_event_type_is_200_and_ignored(deliver, subscribed):
    payload = stripe_event("evt_unknown", "customer.tax_id.created", {"id": "txi_1", "customer": "cus_123"})
    response = deliver(payload)
    assert response.status_code == 200
    event = StripeEvent.objects.get(event_id="evt_unknown")
    assert event.outcome == "ignored"
    assert event.processed_at
    assert state(subscribed) == ("free", "active")
    assert not OutboxMessage.objects.filter(job_path__endswith="stripe_event_apply_job").exists()


def test_a_signed_body_that_is_not_an_event_is_400(deliver):
    assert deliver(b'{"hello": "world"}').status_code == 400
    assert deliver(b"not json").status_code == 400


def test_out_of_order_events_end_in_the_latest_state(deliver, subscribed):
    now = int(time.time())
    newest = stripe_event("evt_new", "customer.subscription.updated", sub_obj(subscribed, "active"), created=now)
    older = stripe_event(
        "evt_older", "customer.subscription.updated", sub_obj(subscribed, "past_due"), created=now - 60
    )
    oldest = stripe_event(
        "evt_oldest", "customer.subscription.created", sub_obj(subscribed, "trialing"), created=now - 120
    )
    for payload in (newest, older, oldest):
        assert deliver(payload).status_code == 200
    assert state(subscribed) == ("pro", "active")
    assert StripeEvent.objects.get(event_id="evt_older").outcome == "stale"
    assert StripeEvent.objects.get(event_id="evt_oldest").outcome == "stale"
    # A late payment failure older than the latest state changes nothing either.
    failed = stripe_event("evt_fail", "invoice.payment_failed", {"id": "in_1", "customer": "cus_123"}, created=now - 30)
    assert deliver(failed).status_code == 200
    assert state(subscribed) == ("pro", "active")
    deleted = stripe_event("evt_del", "customer.subscription.deleted", sub_obj(subscribed, "canceled"), created=now + 5)
    assert deliver(deleted).status_code == 200
    assert state(subscribed) == ("pro", "canceled")


def test_payment_events_move_the_status_and_record_the_invoice(deliver, subscribed):
    now = int(time.time())
    assert (
        deliver(
            stripe_event("e1", "customer.subscription.created", sub_obj(subscribed, "active"), created=now - 10)
        ).status_code
        == 200
    )
    failed = {"id": "in_1", "customer": "cus_123", "period_start": now - 100, "period_end": now}
    assert deliver(stripe_event("e2", "invoice.payment_failed", failed, created=now - 5)).status_code == 200
    assert state(subscribed) == ("pro", "past_due")
    paid = {**failed, "amount_paid": 4900, "currency": "usd"}
    assert deliver(stripe_event("e3", "invoice.paid", paid, created=now)).status_code == 200
    assert state(subscribed) == ("pro", "active")
    with tenant_context(subscribed):
        invoice = Invoice.objects.get()
    assert (invoice.status, invoice.total_cents, invoice.provider_invoice_id) == ("paid", 4900, "in_1")


def test_an_event_for_no_known_tenant_is_recorded_and_ignored(deliver):
    obj = {"id": "sub_9", "customer": "cus_nobody", "status": "active", "metadata": {}}
    assert deliver(stripe_event("evt_orphan", "customer.subscription.updated", obj)).status_code == 200
    assert StripeEvent.objects.get(event_id="evt_orphan").outcome == "ignored"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_event_delivered_twice_at_once_is_applied_once(deliver, tenant):
    with tenant_context(tenant):
        subscription_create(tenant=tenant)
    link_customer(tenant)
    payload = stripe_event("evt_race", "customer.subscription.updated", sub_obj(tenant, "active"))
    signature = signature_header(payload)
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def post() -> None:
        try:
            barrier.wait(timeout=10)
            statuses.append(deliver(payload, signature=signature).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert statuses == [200, 200]
    assert StripeEvent.objects.filter(event_id="evt_race").count() == 1
    assert OutboxMessage.objects.filter(job_path__endswith="stripe_event_apply_job").count() == 1
    assert applied_count(tenant) == 1
    assert state(tenant) == ("pro", "active")


def test_event_metadata_never_picks_the_tenant(deliver, subscribed, other_tenant):
    """Metadata naming another tenant: ignored for an unknown customer, and the map wins for a known one."""
    with tenant_context(other_tenant):
        subscription_create(tenant=other_tenant)
    stray = sub_obj(other_tenant, "active", customer="cus_unmapped")
    assert deliver(stripe_event("evt_meta", "customer.subscription.updated", stray)).status_code == 200
    assert StripeEvent.objects.get(event_id="evt_meta").outcome == "ignored"
    assert state(other_tenant) == ("free", "active")

    mapped = sub_obj(other_tenant, "active")  # cus_123 is `subscribed`'s customer
    assert deliver(stripe_event("evt_mapped", "customer.subscription.updated", mapped)).status_code == 200
    assert StripeEvent.objects.get(event_id="evt_mapped").tenant_id == subscribed.id
    assert state(other_tenant) == ("free", "active")


def test_a_completed_checkout_links_the_customer_our_session_named(deliver, tenant):
    with tenant_context(tenant):
        subscription_create(tenant=tenant)
    checkout = {
        "id": "cs_1",
        "object": "checkout.session",
        "customer": "cus_new",
        "subscription": "sub_new",
        "client_reference_id": str(tenant.id),
    }
    assert deliver(stripe_event("evt_checkout", "checkout.session.completed", checkout)).status_code == 200
    assert BillingCustomer.objects.get(customer_id="cus_new").tenant_id == tenant.id
