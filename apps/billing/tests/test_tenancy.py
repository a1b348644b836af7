"""Another tenant's billing is out of reach: its invoices, usage and subscription never show; lists cost the same."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.billing.models import Invoice, Plan, UsageRecord
from apps.billing.services.subscriptions import subscription_create
from apps.common.tenancy import TenantContextMissing, tenant_context

from .conftest import BILLING

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded")]


def make_invoices(tenant, count: int) -> None:
    start = timezone.now() - timedelta(days=31 * count)
    with tenant_context(tenant):
        Invoice.objects.bulk_create(
            Invoice(
                tenant_id=tenant.id,
                plan_code="pro",
                period_start=start + timedelta(days=31 * n),
                period_end=start + timedelta(days=31 * (n + 1)),
                total_cents=4900,
                lines=[{"description": "Pro plan", "metric": None, "quantity": 1, "amount_cents": 4900}],
                created_at=start + timedelta(days=31 * (n + 1)),
            )
            for n in range(count)
        )


def test_member_cannot_read_other_tenant_invoice(admin_api, tenant, other_tenant):
    make_invoices(other_tenant, 3)
    make_invoices(tenant, 1)
    body = admin_api.get(f"{BILLING}invoices/").json()
    assert len(body["results"]) == 1
    with tenant_context(other_tenant):
        foreign = {str(i) for i in Invoice.objects.values_list("id", flat=True)}
    assert not foreign & {row["id"] for row in body["results"]}


def test_usage_and_subscription_are_the_callers_tenants(owner_api, tenant, other_tenant):
    with tenant_context(other_tenant):
        other_tenant.plan_code = "enterprise"
        subscription_create(tenant=other_tenant)
        UsageRecord.objects.create(metric="api_calls", quantity=999, at=timezone.now())
    assert owner_api.get(f"{BILLING}subscription/").json()["plan"] == "free"
    assert owner_api.get(f"{BILLING}usage/").json()["metrics"]["api_calls"] == 0


def test_billing_rows_need_a_tenant_context():
    with pytest.raises(TenantContextMissing):
        list(Invoice.objects.all())


def test_invoices_are_cursor_paginated_newest_first(admin_api, tenant):
    make_invoices(tenant, 3)
    first = admin_api.get(f"{BILLING}invoices/?page_size=2").json()
    assert len(first["results"]) == 2
    assert first["next"]
    assert "cursor=" in first["next"]
    rest = admin_api.get(first["next"]).json()
    assert len(rest["results"]) == 1
    starts = [r["period_start"] for r in first["results"] + rest["results"]]
    assert starts == sorted(starts, reverse=True)
    row = first["results"][0]
    assert set(row) == {
        "id",
        "plan",
        "status",
        "period_start",
        "period_end",
        "currency",
        "total_cents",
        "lines",
        "created_at",
        "paid_at",
    }
    assert admin_api.get(f"{BILLING}invoices/?cursor=bogus").status_code == 404


def _count(client, path: str) -> tuple[int, int]:
    """(queries, rows) of one GET of a list."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, response.content
    return len(captured.captured_queries), len(response.json()["results"])


def test_invoice_list_queries_do_not_grow_with_rows(admin_api, tenant):
    path = f"{BILLING}invoices/?page_size=100"
    admin_api.get(path)  # warm the role map
    seen = []
    for total in (1, 20, 100):
        with tenant_context(tenant):
            Invoice.objects.all().delete()
        make_invoices(tenant, total)
        seen.append(_count(admin_api, path))
    assert [rows for _, rows in seen] == [1, 20, 100]
    assert len({queries for queries, _ in seen}) == 1, seen


def test_plan_list_queries_do_not_grow_with_rows(member_api):
    path = f"{BILLING}plans/?page_size=100"
    member_api.get(path)
    seen = []
    for total in (1, 20, 100):
        Plan.objects.exclude(code="free").delete()
        Plan.objects.bulk_create(Plan(code=f"plan-{n}", name=f"Plan {n}", position=10 + n) for n in range(total - 1))
        seen.append(_count(member_api, path))
    assert [rows for _, rows in seen] == [1, 20, 100]
    assert len({queries for queries, _ in seen}) == 1, seen
