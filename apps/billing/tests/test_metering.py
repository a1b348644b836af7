"""API calls are metered: counted by the API, collected into usage by the hourly roll-up, billed per plan."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.billing.models import UsageRecord
from apps.billing.services.lifecycle import billing_nightly
from apps.billing.services.usage import usage_meter_collect, usage_rollup, usage_rollup_all
from apps.billing.tests.conftest import BILLING
from apps.common import metering
from apps.common.tenancy import tenant_context

pytestmark = pytest.mark.django_db

MEMBERS = "/api/v1/identity/members/"


def _api_calls(admin_api) -> int:  # type: ignore[no-untyped-def]
    return int(admin_api.get(f"{BILLING}usage/").json()["metrics"]["api_calls"])


def test_each_authenticated_call_is_counted_once_the_roll_up_runs(admin_api, tenant):
    usage_rollup_all()  # what signing in counted
    before = _api_calls(admin_api)
    for _ in range(3):
        assert admin_api.get(MEMBERS).status_code == 200
    usage_rollup_all()
    # The three list calls and the first usage read; the roll-up took them off the counters.
    assert _api_calls(admin_api) == before + 4
    usage_rollup_all()
    assert _api_calls(admin_api) == before + 5  # a second roll-up adds only the usage read between them


def test_refused_and_anonymous_calls_are_not_counted(api, member_api, admin_api, tenant):
    with tenant_context(tenant):
        usage_meter_collect(tenant=tenant)  # what signing in counted
    assert api.get(MEMBERS).status_code == 401
    assert member_api.get(f"{BILLING}usage/").status_code == 403
    with tenant_context(tenant):
        assert usage_meter_collect(tenant=tenant) == 0


def test_a_tenant_is_charged_only_for_its_own_calls(admin_api, api_client, member, other_tenant, tenant):
    from apps.identity.models import Portal

    other_portal = Portal.objects.filter(tenant=other_tenant).first() or Portal.objects.create(
        tenant=other_tenant, slug="other-metering", name="Other", is_default=True
    )
    other_api = api_client(member("admin", of=other_tenant), other_portal)
    for some in (tenant, other_tenant):
        with tenant_context(some):
            usage_meter_collect(tenant=some)  # what signing in counted
    for _ in range(2):
        other_api.get(MEMBERS)
    with tenant_context(tenant):
        assert usage_meter_collect(tenant=tenant) == 0
    with tenant_context(other_tenant):
        assert usage_meter_collect(tenant=other_tenant) == 2


def test_counts_land_in_the_hour_they_were_made(tenant):
    now = timezone.now()
    earlier = now - timedelta(hours=3)
    metering.count(metering.API_CALLS, tenant.id, 5, now=earlier)
    metering.count(metering.API_CALLS, tenant.id, 2, now=now)
    with tenant_context(tenant):
        usage_rollup(tenant=tenant, now=now)
        rows = sorted(UsageRecord.objects.filter(metric="api_calls").values_list("at", "quantity"))
    assert rows == [(metering.hour_start(earlier), 5), (metering.hour_start(now), 2)]


class _CacheDown:
    def add(self, *args: object, **kwargs: object) -> None:
        raise ConnectionError("redis is down")

    incr = add


def test_a_count_made_while_the_cache_is_down_waits_for_the_next_flush(tenant, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(metering, "cache", _CacheDown())
        metering.count(metering.API_CALLS, tenant.id, 3)
        assert sum(n for _, n in metering.pending(metering.API_CALLS)) == 3
    metering.flush()
    assert list(metering.pending(metering.API_CALLS)) == []
    with tenant_context(tenant):
        assert usage_meter_collect(tenant=tenant) == 3


def test_the_nightly_job_prunes_readings_past_retention(tenant, settings):
    settings.BILLING_USAGE_RETENTION_DAYS = 30
    now = timezone.now()
    with tenant_context(tenant):
        UsageRecord.objects.create(tenant_id=tenant.id, metric="api_calls", quantity=1, at=now - timedelta(days=31))
        UsageRecord.objects.create(tenant_id=tenant.id, metric="api_calls", quantity=1, at=now - timedelta(days=29))
    report = billing_nightly(now=now)
    assert report.usage_pruned >= 1
    with tenant_context(tenant):
        ages = [now - at for at in UsageRecord.objects.filter(metric="api_calls").values_list("at", flat=True)]
    assert ages
    assert all(age < timedelta(days=30) for age in ages)
