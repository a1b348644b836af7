"""Billing's API as docs/api.md states it: shapes, who may call what, the plan change and its Idempotency-Key."""

from __future__ import annotations

import pytest

from apps.billing.models import Subscription
from apps.billing.services.subscriptions import subscription_create
from apps.common.tenancy import tenant_context
from apps.identity.models import AuditEvent, Tenant

from .conftest import BILLING

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded")]


def test_plans_are_a_paginated_list_with_prices_and_entitlements(member_api):
    response = member_api.get(f"{BILLING}plans/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"results", "next", "previous"}
    assert [p["code"] for p in body["results"]] == ["free", "pro", "enterprise"]
    pro = body["results"][1]
    assert set(pro) == {"code", "name", "price_cents", "currency", "interval", "trial_days", "features", "limits"}
    assert pro["price_cents"] == 4900
    assert isinstance(pro["price_cents"], int)
    assert pro["interval"] == "month"
    assert pro["trial_days"] == 14
    assert pro["limits"] == {"seats": 25, "portals": 10, "storage_bytes": 10 * 1024**3}
    assert body["results"][2]["limits"]["seats"] is None


def test_plans_page_size_is_honoured(member_api):
    body = member_api.get(f"{BILLING}plans/?page_size=2").json()
    assert len(body["results"]) == 2
    assert body["next"]
    assert body["previous"] is None


def test_subscription_shows_plan_status_and_entitlements(owner_api, tenant):
    with tenant_context(tenant):
        subscription_create(tenant=tenant)
    body = owner_api.get(f"{BILLING}subscription/").json()
    assert body["plan"] == "free"
    assert body["status"] == "active"
    assert body["trial_ends_at"] is None
    assert body["current_period_end"]
    assert body["entitlements"]["limits"] == {"seats": 5, "portals": 3, "storage_bytes": 100 * 1024**2}
    assert "portals" in body["entitlements"]["features"]


def test_subscription_of_a_tenant_made_before_billing_reads_the_tenant_row(owner_api):
    body = owner_api.get(f"{BILLING}subscription/").json()
    assert (body["plan"], body["status"]) == ("free", "active")


@pytest.mark.parametrize("path", ["subscription/", "usage/", "invoices/"])
def test_a_member_may_not_read_billing(member_api, path):
    response = member_api.get(f"{BILLING}{path}")
    assert response.status_code == 403
    assert response["Content-Type"].startswith("application/problem+json")


@pytest.mark.parametrize("path", ["subscription/", "usage/", "invoices/"])
def test_an_admin_may_read_billing(admin_api, path):
    assert admin_api.get(f"{BILLING}{path}").status_code == 200


def test_only_an_owner_changes_the_plan(admin_api, member_api, tenant):
    for client in (admin_api, member_api):
        assert client.post(f"{BILLING}subscription/change/", {"plan": "pro"}, format="json").status_code == 403
    assert Tenant.objects.get(id=tenant.id).plan_code == "free"


def test_without_a_token_it_is_401(api):
    for path in ("plans/", "subscription/", "usage/", "invoices/"):
        assert api.get(f"{BILLING}{path}").status_code == 401
    assert api.post(f"{BILLING}subscription/change/", {"plan": "pro"}, format="json").status_code == 401


def test_owner_moves_to_pro_and_the_trial_starts(owner_api, tenant):
    response = owner_api.post(f"{BILLING}subscription/change/", {"plan": "pro"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["plan"] == "pro"
    assert body["entitlements"]["limits"]["seats"] == 25
    row = Tenant.objects.get(id=tenant.id)
    assert (row.plan_code, row.subscription_status) == ("pro", body["status"])
    with tenant_context(tenant):
        assert Subscription.objects.get().plan_code == "pro"
        assert AuditEvent.objects.filter(action="billing.plan_changed").count() == 1


def test_a_trial_moved_to_free_ends(owner_api, tenant):
    with tenant_context(tenant):
        Tenant.objects.filter(id=tenant.id).update(plan_code="pro")
        tenant.plan_code = "pro"
        assert subscription_create(tenant=tenant).status == "trialing"
    body = owner_api.post(f"{BILLING}subscription/change/", {"plan": "free"}, format="json").json()
    assert (body["plan"], body["status"], body["trial_ends_at"]) == ("free", "active", None)


def test_an_unknown_plan_is_400(owner_api):
    response = owner_api.post(f"{BILLING}subscription/change/", {"plan": "platinum"}, format="json")
    assert response.status_code == 400
    assert "plan" in response.json()["errors"]
    assert owner_api.post(f"{BILLING}subscription/change/", {"plan": 7}, format="json").status_code == 400
    assert owner_api.post(f"{BILLING}subscription/change/", {}, format="json").status_code == 400


def test_a_past_due_subscription_only_moves_to_free(owner_api, tenant):
    with tenant_context(tenant):
        subscription = subscription_create(tenant=tenant)
        Subscription.objects.filter(id=subscription.id).update(status="past_due")
    assert owner_api.post(f"{BILLING}subscription/change/", {"plan": "pro"}, format="json").status_code == 409
    assert owner_api.post(f"{BILLING}subscription/change/", {"plan": "free"}, format="json").status_code == 200


def test_a_canceled_subscription_is_reactivated_by_a_change(owner_api, tenant):
    with tenant_context(tenant):
        subscription = subscription_create(tenant=tenant)
        Subscription.objects.filter(id=subscription.id).update(status="canceled")
    Tenant.objects.filter(id=tenant.id).update(subscription_status="canceled")
    body = owner_api.post(f"{BILLING}subscription/change/", {"plan": "enterprise"}, format="json").json()
    assert (body["plan"], body["status"]) == ("enterprise", "active")


def test_the_same_idempotency_key_replays_the_change(owner_api, tenant):
    headers = {"HTTP_IDEMPOTENCY_KEY": "change-1"}
    first = owner_api.post(f"{BILLING}subscription/change/", {"plan": "pro"}, format="json", **headers)
    again = owner_api.post(f"{BILLING}subscription/change/", {"plan": "pro"}, format="json", **headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    other = owner_api.post(f"{BILLING}subscription/change/", {"plan": "free"}, format="json", **headers)
    assert other.status_code == 409
    with tenant_context(tenant):
        assert AuditEvent.objects.filter(action="billing.plan_changed").count() == 1


def test_usage_shows_the_current_period_and_every_metric(admin_api):
    body = admin_api.get(f"{BILLING}usage/").json()
    assert set(body) == {"period_start", "period_end", "metrics"}
    assert set(body["metrics"]) == {"seats", "portals", "storage_bytes", "api_calls"}
    assert body["metrics"]["seats"] == 1  # the admin
    assert body["metrics"]["portals"] == 1
