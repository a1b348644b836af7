"""Subscriptions over time: new tenants, trial expiry, period invoices, overdue and offline payment, usage."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from apps.billing.models import Invoice, Plan, Subscription, UsageRecord, UsageTotal
from apps.billing.selectors import plan_cache_clear
from apps.billing.services.lifecycle import billing_nightly
from apps.billing.services.subscriptions import subscription_create
from apps.billing.services.usage import usage_record, usage_rollup, usage_rollup_all
from apps.common.exceptions import ApplicationError
from apps.common.tenancy import tenant_context
from apps.identity.models import Tenant
from apps.identity.services.tenants import tenant_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded")]


def subscription(tenant) -> Subscription:
    with tenant_context(tenant):
        return Subscription.objects.get()


def on_plan(tenant, plan: str) -> Subscription:
    Tenant.objects.filter(id=tenant.id).update(plan_code=plan)
    tenant.refresh_from_db()
    with tenant_context(tenant):
        return subscription_create(tenant=tenant)


def test_a_new_tenant_gets_a_subscription_on_its_plan():
    created = tenant_create(slug="newco", name="NewCo", owner_email="boss@newco.test", plan="pro")
    sub = subscription(created.tenant)
    assert (sub.plan_code, sub.status) == ("pro", "trialing")
    assert timedelta(days=13, hours=23) < sub.trial_ends_at - timezone.now() <= timedelta(days=14)
    row = Tenant.objects.get(id=created.tenant.id)
    assert (row.plan_code, row.subscription_status) == ("pro", "trialing")
    free = tenant_create(slug="freeco", name="FreeCo", owner_email="boss@freeco.test")
    assert subscription(free.tenant).status == "active"


def test_the_nightly_job_moves_an_expired_trial(tenant):
    sub = on_plan(tenant, "pro")
    assert sub.status == "trialing"
    assert billing_nightly(now=sub.trial_ends_at - timedelta(seconds=1)).trials_ended == 0
    assert subscription(tenant).status == "trialing"
    later = sub.trial_ends_at + timedelta(hours=1)
    report = billing_nightly(now=later)
    assert report.trials_ended == 1
    moved = subscription(tenant)
    assert moved.status == "active"
    assert moved.current_period_start == sub.trial_ends_at
    assert Tenant.objects.get(id=tenant.id).subscription_status == "active"
    assert billing_nightly(now=later).trials_ended == 0  # nothing left to move


def test_a_closed_period_is_invoiced_from_plan_and_metered_usage(tenant):
    sub = on_plan(tenant, "pro")
    with tenant_context(tenant):
        Subscription.objects.update(status="active", trial_ends_at=None)
        usage_record(
            tenant=tenant, metric="api_calls", quantity=125_000, at=sub.current_period_start + timedelta(days=1)
        )
    report = billing_nightly(now=sub.current_period_end + timedelta(minutes=1))
    assert report.invoices == 1
    with tenant_context(tenant):
        invoice = Invoice.objects.get()
    assert (invoice.period_start, invoice.period_end) == (sub.current_period_start, sub.current_period_end)
    # 4900 for the plan; 25,000 calls over the 100,000 included: 3 started blocks of 10,000 at 100 cents.
    assert invoice.total_cents == 4900 + 300
    assert invoice.status == "open"
    assert [line["amount_cents"] for line in invoice.lines] == [4900, 300]
    assert subscription(tenant).current_period_start == sub.current_period_end
    assert billing_nightly(now=sub.current_period_end + timedelta(minutes=2)).invoices == 0  # once per period


def test_an_overdue_invoice_makes_it_past_due_and_paying_it_makes_it_active(tenant, settings):
    sub = on_plan(tenant, "pro")
    with tenant_context(tenant):
        Subscription.objects.update(status="active", trial_ends_at=None)
    billing_nightly(now=sub.current_period_end + timedelta(minutes=1))
    with tenant_context(tenant):
        invoice = Invoice.objects.get()
        Invoice.objects.filter(id=invoice.id).update(created_at=timezone.now() - timedelta(days=15))
    assert billing_nightly(now=timezone.now()).past_due == 1
    assert Tenant.objects.get(id=tenant.id).subscription_status == "past_due"
    out = StringIO()
    call_command("billing_mark_paid", str(invoice.id), stdout=out)
    assert "paid" in out.getvalue()
    assert subscription(tenant).status == "active"
    assert Tenant.objects.get(id=tenant.id).subscription_status == "active"
    with pytest.raises(CommandError):
        call_command("billing_mark_paid", "not-a-uuid")
    with pytest.raises(CommandError):
        call_command("billing_mark_paid", "00000000-0000-0000-0000-000000000000")


def test_a_free_period_is_invoiced_at_zero_and_paid(tenant):
    sub = on_plan(tenant, "free")
    billing_nightly(now=sub.current_period_end + timedelta(minutes=1))
    with tenant_context(tenant):
        invoice = Invoice.objects.get()
    assert (invoice.total_cents, invoice.status) == (0, "paid")


def test_usage_rolls_up_into_period_totals(tenant, member):
    sub = on_plan(tenant, "free")
    member("owner")
    member("member")
    with tenant_context(tenant):
        usage_record(tenant=tenant, metric="api_calls", quantity=40)
        usage_record(tenant=tenant, metric="api_calls", quantity=2)
        usage_record(tenant=tenant, metric="api_calls", quantity=1000, at=sub.current_period_start - timedelta(days=1))
        totals = usage_rollup(tenant=tenant)
    assert totals == {"seats": 2, "portals": 0, "storage_bytes": 0, "api_calls": 42}
    member("member")
    assert usage_rollup_all() >= 1
    with tenant_context(tenant):
        rows = dict(UsageTotal.objects.values_list("metric", "total"))
        assert UsageRecord.objects.filter(metric="seats").count() == 2
    assert rows["seats"] == 3
    assert rows["api_calls"] == 42


def test_an_unknown_metric_or_negative_quantity_is_refused(tenant):
    with tenant_context(tenant), pytest.raises(ApplicationError):
        usage_record(tenant=tenant, metric="bananas", quantity=1)
    with tenant_context(tenant), pytest.raises(ApplicationError):
        usage_record(tenant=tenant, metric="api_calls", quantity=-1)


def test_billing_sync_gives_older_tenants_a_subscription(tenant, other_tenant):
    out = StringIO()
    call_command("billing_sync", stdout=out)
    assert "subscriptions created: 2" in out.getvalue()
    assert subscription(tenant).plan_code == "free"
    assert subscription(other_tenant).status == "active"
    call_command("billing_sync", stdout=StringIO())
    with tenant_context(tenant):
        assert Subscription.objects.count() == 1


def test_a_plan_taken_off_the_catalogue_is_refused_for_new_tenants():
    Plan.objects.filter(code="pro").update(active=False)
    plan_cache_clear()  # what a plan change does in the process that makes it; others follow within a minute
    with pytest.raises(ApplicationError, match="Unknown plan 'pro'; known plans: enterprise, free"):
        tenant_create(slug="lateco", name="LateCo", owner_email="boss@lateco.test", plan="pro")
    assert not Tenant.objects.filter(slug="lateco").exists()


def test_creating_a_tenant_stays_within_its_statement_budget(django_assert_max_num_queries):
    tenant_create(slug="warm", name="Warm", owner_email="boss@warm.test")  # the plan and role caches
    # The tenant, portal, owner and membership; the subscription and its audit event; onboarding; the mail's
    # outbox row; the tenant setting; the savepoint of this test's transaction. No read of the plan catalogue,
    # and no look for webhook endpoints: the free plan has no webhooks, so `member.added` goes nowhere.
    with django_assert_max_num_queries(18) as captured:
        tenant_create(slug="budget", name="Budget", owner_email="boss@budget.test")
    assert not [q for q in captured.captured_queries if "billing_plan" in q["sql"]]
    assert not [q for q in captured.captured_queries if "integrations_webhookendpoint" in q["sql"]]
