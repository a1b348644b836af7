"""Every list makes the same number of queries at 1, 20 and 100 rows (the checklist too)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.common.tenancy import tenant_context
from apps.flows.models import FlowDefinition, FlowRun, Step, StepCompletion
from apps.flows.tests.conftest import CHECKLIST, RUNS

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded")]


def _queries(client, path: str) -> int:
    client.get(path)  # warm: the plan's row (the feature gate) is then kept in the process, as in production
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, response.content
    return len(captured.captured_queries)


def _runs(tenant, user, count: int) -> None:
    with tenant_context(tenant):
        have = FlowRun.objects.filter(user=user).count()
        for n in range(have, count):
            flow = FlowDefinition.objects.create(code=f"flow-{n}", name=f"Flow {n}")
            FlowRun.objects.create(flow=flow, user=user)


def test_runs_list_queries_do_not_grow_with_rows(api_client, member, portal, tenant):
    user = member()
    client = api_client(user, portal)
    counts = {}
    for rows in (1, 20, 100):
        _runs(tenant, user, rows)
        counts[rows] = _queries(client, f"{RUNS}?page_size=100")
        assert len(client.get(f"{RUNS}?page_size=100").json()["results"]) == rows
    assert len(set(counts.values())) == 1, counts


def test_checklist_queries_do_not_grow_with_steps(api_client, member, portal, tenant):
    user = member()
    client = api_client(user, portal)
    counts = {}
    with tenant_context(tenant):
        flow = FlowDefinition.objects.create(code="onboarding", name="Onboarding")
        run = FlowRun.objects.create(flow=flow, user=user)
    for rows in (1, 20, 100):
        with tenant_context(tenant):
            for n in range(Step.objects.count(), rows):
                step = Step.objects.create(flow=flow, code=f"step-{n}", title=f"Step {n}", order=n)
                if n % 2:
                    StepCompletion.objects.create(run=run, step=step)
        counts[rows] = _queries(client, CHECKLIST)
        assert len(client.get(CHECKLIST).json()["steps"]) == rows
    assert len(set(counts.values())) == 1, counts


def test_runs_list_pages_by_cursor(api_client, member, portal, tenant):
    user = member()
    client = api_client(user, portal)
    _runs(tenant, user, 3)
    first = client.get(f"{RUNS}?page_size=2").json()
    assert len(first["results"]) == 2
    assert first["next"]
    second = client.get(first["next"]).json()
    assert len(second["results"]) == 1
    assert second["next"] is None
    ids = [r["id"] for r in first["results"] + second["results"]]
    assert len(set(ids)) == 3
    assert client.get(f"{RUNS}?cursor=garbage").status_code == 404
