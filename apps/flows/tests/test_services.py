"""Flows services: seeding (the tenant-created plug, the data migration), the analytics roll-up, append-only."""

from __future__ import annotations

import importlib
from datetime import UTC, date, datetime, timedelta

import pytest
from django.apps import apps as django_apps
from django.utils import timezone

from apps.common.exceptions import ApplicationError
from apps.common.tenancy import tenant_context, unscoped
from apps.flows.managers import AppendOnlyError
from apps.flows.models import AnalyticsDaily, AnalyticsEvent, FlowDefinition, Step
from apps.flows.selectors import analytics_daily_list, analytics_totals, checklist_get
from apps.flows.services import DEFAULT_ONBOARDING_STEPS, analytics_record, analytics_rollup, onboarding_seed
from apps.identity.services.tenants import tenant_create

pytestmark = pytest.mark.django_db

seed_migration = importlib.import_module("apps.flows.migrations.0002_seed_onboarding")


def test_a_new_tenant_gets_the_onboarding_steps_from_the_plug(rbac_seeded):
    created = tenant_create(slug="newco", name="NewCo", owner_email="owner@newco.example.test", notify_owner=False)
    with tenant_context(created.tenant):
        assert list(Step.objects.order_by("order").values_list("code", flat=True)) == [
            code for code, _ in DEFAULT_ONBOARDING_STEPS
        ]
        checklist = checklist_get(tenant=created.tenant, user_id=created.owner.id, portal=created.portal.slug)
    assert [s.code for s in checklist.steps] == [code for code, _ in DEFAULT_ONBOARDING_STEPS]
    assert checklist.completed is False


def test_a_new_tenant_s_onboarding_is_two_inserts(tenant, django_assert_num_queries):
    from apps.flows.services.onboarding import flow_tenant_created

    with tenant_context(tenant), django_assert_num_queries(2):
        flow_tenant_created(tenant)
    with tenant_context(tenant):
        assert Step.objects.count() == len(DEFAULT_ONBOARDING_STEPS)


def test_onboarding_seed_is_idempotent_and_keeps_the_tenant_s_edits(tenant):
    with tenant_context(tenant):
        assert onboarding_seed(tenant=tenant) == len(DEFAULT_ONBOARDING_STEPS)
        Step.objects.filter(code="explore_portal").update(title="Tour the portal")
        Step.objects.filter(code="secure_account").delete()
        assert onboarding_seed(tenant=tenant) == 1  # only the missing code comes back
        assert onboarding_seed(tenant=tenant) == 0
        assert FlowDefinition.objects.count() == 1
        assert Step.objects.get(code="explore_portal").title == "Tour the portal"


def test_the_data_migration_seeds_existing_tenants_once(tenant, other_tenant):
    with tenant_context(other_tenant):
        onboarding_seed(tenant=other_tenant)  # already seeded: left alone
    with unscoped():
        assert seed_migration.seed_tenants(django_apps) == len(DEFAULT_ONBOARDING_STEPS)
        assert seed_migration.seed_tenants(django_apps) == 0
    for each in (tenant, other_tenant):
        with tenant_context(each):
            assert Step.objects.count() == len(DEFAULT_ONBOARDING_STEPS)


def test_the_migration_s_steps_are_the_service_s_steps():
    assert seed_migration.DEFAULT_STEPS == DEFAULT_ONBOARDING_STEPS


# --------------------------------------------------------------------------- analytics


def _event(tenant, name: str, at: datetime) -> None:
    with tenant_context(tenant):
        AnalyticsEvent.objects.create(event=name, created_at=at)


def test_the_roll_up_counts_each_tenant_s_events_per_day_and_reruns_harmlessly(tenant, other_tenant):
    today = timezone.now().astimezone(UTC).date()
    yesterday_noon = datetime.combine(today - timedelta(days=1), datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
    for _ in range(3):
        _event(tenant, "page_view", yesterday_noon)
    _event(tenant, "feature_used", yesterday_noon)
    _event(tenant, "page_view", timezone.now())
    _event(other_tenant, "page_view", yesterday_noon)
    _event(tenant, "page_view", yesterday_noon - timedelta(days=3))  # outside the window

    assert analytics_rollup() == 4
    assert analytics_rollup() == 4  # a recount, not an increment
    with tenant_context(tenant):
        rows = {
            (r.day, r.event): r.count
            for r in analytics_daily_list(tenant=tenant, since=today - timedelta(days=7), until=today)
        }
        assert rows == {
            (today - timedelta(days=1), "page_view"): 3,
            (today - timedelta(days=1), "feature_used"): 1,
            (today, "page_view"): 1,
        }
        assert analytics_totals(tenant=tenant, since=today - timedelta(days=7), until=today) == {
            "page_view": 4,
            "feature_used": 1,
        }
    _event(tenant, "page_view", timezone.now())
    analytics_rollup()
    with tenant_context(tenant):
        assert AnalyticsDaily.objects.get(day=today, event="page_view").count == 2
    with tenant_context(other_tenant):
        assert analytics_totals(tenant=other_tenant, since=date.min, until=today) == {"page_view": 1}


def test_the_roll_up_of_a_named_day(tenant):
    _event(tenant, "page_view", datetime(2024, 2, 29, 23, 59, tzinfo=UTC))
    _event(tenant, "page_view", datetime(2024, 3, 1, 0, 0, tzinfo=UTC))
    assert analytics_rollup(day=date(2024, 2, 29)) == 1
    with tenant_context(tenant):
        assert [(r.day, r.count) for r in AnalyticsDaily.objects.all()] == [(date(2024, 2, 29), 1)]


def test_analytics_record_refuses_unknown_events_in_the_service_too(tenant):
    with tenant_context(tenant), pytest.raises(ApplicationError) as refused:
        analytics_record(tenant=tenant, user_id=None, event="not_allowed")
    assert refused.value.errors is not None
    assert "event" in refused.value.errors


def test_analytics_events_are_append_only_through_the_orm(tenant):
    with tenant_context(tenant):
        event = analytics_record(tenant=tenant, user_id=None, event="page_view", properties={"a": 1})
        event.event = "feature_used"
        with pytest.raises(AppendOnlyError):
            event.save()
        with pytest.raises(AppendOnlyError):
            event.delete()
        with pytest.raises(AppendOnlyError):
            AnalyticsEvent.objects.filter(id=event.id).update(event="feature_used")
        with pytest.raises(AppendOnlyError):
            AnalyticsEvent.objects.all().delete()
        with pytest.raises(AppendOnlyError):
            AnalyticsEvent.objects.bulk_update([event], ["event"])
        assert AnalyticsEvent.objects.get().event == "page_view"
