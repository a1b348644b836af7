"""Another tenant's flows, runs and analytics are never visible: through the API, the ORM and (PostgreSQL) raw SQL."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from django.db import connection

from apps.common.tenancy import tenant_context, unscoped
from apps.flows.models import AnalyticsEvent, FlowRun, Step
from apps.flows.services import analytics_record, onboarding_seed
from apps.flows.tests.conftest import CHECKLIST, RUNS, TRACK, complete_url

FLOW_TABLES = (
    "flows_flowdefinition",
    "flows_step",
    "flows_flowrun",
    "flows_stepcompletion",
    "flows_analyticsevent",
    "flows_analyticsdaily",
)


@pytest.mark.django_db
@pytest.mark.usefixtures("rbac_seeded")
def test_member_never_sees_another_tenant_s_steps_or_runs(api_client, member, portal, other_portal, seeded_tenant):
    ours = api_client(member(), portal)
    ours.post(complete_url("complete_profile"))
    theirs = api_client(member(of=other_portal.tenant), other_portal)
    assert theirs.get(CHECKLIST).json()["steps"] == []  # their tenant has no steps; ours are not theirs
    assert theirs.get(RUNS).json()["results"] == []
    assert theirs.post(complete_url("complete_profile")).status_code == 404
    assert theirs.post(TRACK, {"event": "page_view"}).status_code == 201
    with tenant_context(seeded_tenant):
        assert FlowRun.objects.count() == 1
        assert not AnalyticsEvent.objects.filter(event="page_view").exists()


@pytest.mark.django_db
@pytest.mark.usefixtures("rbac_seeded")
def test_each_tenant_sees_its_own_copy_of_the_same_step_codes(api_client, member, portal, other_portal, tenant):
    for each in (tenant, other_portal.tenant):
        with tenant_context(each):
            onboarding_seed(tenant=each)
    ours = api_client(member(), portal)
    theirs = api_client(member(of=other_portal.tenant), other_portal)
    ours.post(complete_url("explore_portal"))
    assert not any(step["done"] for step in theirs.get(CHECKLIST).json()["steps"])
    assert theirs.get(RUNS).json()["results"] == []


# --------------------------------------------------------------------------- PostgreSQL: the wall below the ORM


def _seed_both(a: Any, b: Any) -> None:
    for each in (a, b):
        with tenant_context(each):
            onboarding_seed(tenant=each)
            analytics_record(tenant=each, user_id=None, event="page_view")


def _tenants_seen(cursor: Any, table: str) -> set[str]:
    cursor.execute(f'SELECT DISTINCT tenant_id::text FROM "{table}"')  # noqa: S608 - fixed table names
    return {row[0] for row in cursor.fetchall()}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_web_role_raw_sql_sees_only_the_tenant_it_is_set_to(tenant, other_tenant, web_connect):
    _seed_both(tenant, other_tenant)
    with web_connect() as web, web.transaction(), web.cursor() as cursor:
        for table in FLOW_TABLES:
            assert _tenants_seen(cursor, table) == set(), table  # no tenant set: nothing
        cursor.execute("SELECT set_config('app.tenant_id', %s, true)", [str(tenant.id)])
        for table in ("flows_flowdefinition", "flows_step", "flows_analyticsevent"):
            assert _tenants_seen(cursor, table) == {str(tenant.id)}, table


def _run_with_bypass_attempt(web: psycopg.Connection[Any], tenant: Any, statement: str) -> None:
    with web.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('app.tenant_id', %s, true), set_config('app.bypass_rls', 'on', true)",
            [str(tenant.id)],
        )
        cursor.execute(statement)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_analytics_events_are_append_only_in_the_database(tenant, other_tenant, web_connect):
    _seed_both(tenant, other_tenant)
    with web_connect() as web:
        for statement in ("UPDATE flows_analyticsevent SET event = 'x'", "DELETE FROM flows_analyticsevent"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), web.transaction():
                _run_with_bypass_attempt(web, tenant, statement)
    # The operator role may not rewrite an event either; it may only delete one inside `unscoped()`.
    with tenant_context(tenant), pytest.raises(Exception, match="append-only"), connection.cursor() as cursor:
        cursor.execute("UPDATE flows_analyticsevent SET event = 'x'")
    with unscoped(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM flows_analyticsevent WHERE tenant_id = %s", [other_tenant.id])
        assert cursor.rowcount == 1
    with tenant_context(tenant):
        assert AnalyticsEvent.objects.get().event == "page_view"
        assert Step.objects.count() == 3
