"""What each read and purge costs once its table is large: an index, never the whole table.

The statements a function runs are captured as it runs, then each is planned
(`EXPLAIN`) in the same context (role, tenant setting) with the table grown to
thousands of rows of other tenants, or of rows the statement is not after. A
`Seq Scan` of the table means the cost grows with the platform, not with the
answer: a portal page that reads every tenant's flows, a daily purge that reads
the whole outbox.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from django.db import connection
from django.utils import timezone

from apps.common import outbox
from apps.common.models import OutboxMessage
from apps.common.outbox import outbox_purge
from apps.common.tenancy import tenant_context, unscoped
from apps.common.tests.roles_support import django_as
from apps.flows.models import ONBOARDING, FlowDefinition
from apps.flows.selectors import flow_definition_for
from apps.identity.models import PendingSignup, Tenant
from apps.identity.services.accounts import pending_signup_purge

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

MANY = 3000


@contextmanager
def statements() -> Iterator[list[tuple[str, Any]]]:
    """The SELECT, UPDATE and DELETE statements the block runs, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def wrap(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.lstrip().split(None, 1)[0].upper() in {"SELECT", "UPDATE", "DELETE"}:
            seen.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrap):
        yield seen


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _planned(captured: list[tuple[str, Any]]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Each captured statement with its plan's nodes, planned on this connection as it is now."""
    with connection.cursor() as cursor:
        for sql, params in captured:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            yield sql, list(_nodes(cursor.fetchone()[0][0]["Plan"]))


def seq_scans(captured: list[tuple[str, Any]], table: str) -> list[str]:
    """The captured statements whose plan reads all of `table`."""
    return [
        sql
        for sql, nodes in _planned(captured)
        if any(n["Node Type"] == "Seq Scan" and n.get("Relation Name") == table for n in nodes)
    ]


def indexes_used(captured: list[tuple[str, Any]]) -> set[str]:
    """The indexes the captured statements' plans read."""
    return {n["Index Name"] for _, nodes in _planned(captured) for n in nodes if "Index Name" in n}


def _analyze(*tables: str) -> None:
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"ANALYZE {table}")


def test_a_tenants_onboarding_flow_is_found_without_reading_every_tenants_flows(tenant, portal, web_role):
    # Every portal home page and checklist asks `flow_definition_for`: the tenant's own flow or its portal's.
    others = Tenant.objects.bulk_create(Tenant(slug=f"plan-{i}", name=f"Plan {i}") for i in range(MANY))
    with unscoped():
        FlowDefinition.all_tenants.bulk_create(
            FlowDefinition(tenant_id=other.id, code=ONBOARDING, name="Onboarding") for other in others
        )
    with tenant_context(tenant):
        FlowDefinition.objects.create(tenant=tenant, code=ONBOARDING, name="Onboarding")
    _analyze("flows_flowdefinition", "identity_portal")
    with django_as(web_role), tenant_context(tenant):
        with statements() as captured:
            found = flow_definition_for(code=ONBOARDING, portal=portal.slug)
        assert found is not None
        assert found.tenant_id == tenant.id
        assert captured
        assert seq_scans(captured, "flows_flowdefinition") == []


def test_the_daily_outbox_purge_finds_done_messages_without_reading_the_outbox(web_role):
    # A busy outbox: thousands of messages done within retention, one past it.
    now = timezone.now()
    done = OutboxMessage.Status.DONE
    OutboxMessage.objects.bulk_create(
        OutboxMessage(
            job_path="apps.x.job", kwargs={}, tenant_id=uuid4(), status=done, done_at=now - timedelta(hours=i)
        )
        for i in range(MANY)
    )
    old = OutboxMessage.objects.create(job_path="apps.x.job", kwargs={}, status=done, done_at=now - timedelta(days=900))
    _analyze("common_outboxmessage")
    with django_as(web_role):
        with statements() as captured:
            assert outbox_purge(older_than_days=200) == 1
        assert not OutboxMessage.objects.filter(id=old.id).exists()
        assert seq_scans(captured, "common_outboxmessage") == []


def test_the_daily_purge_of_expired_signups_reads_only_the_expired(web_role):
    later = timezone.now() + timedelta(days=2)
    PendingSignup.objects.bulk_create(
        PendingSignup(email=f"{uuid4().hex}@example.test", password="!", expires_at=later) for _ in range(MANY)
    )
    PendingSignup.objects.create(
        email="late@example.test", password="!", expires_at=timezone.now() - timedelta(hours=1)
    )
    _analyze("identity_pendingsignup")
    with django_as(web_role):
        with statements() as captured:
            assert pending_signup_purge() == 1
        assert seq_scans(captured, "identity_pendingsignup") == []


def test_the_outbox_sweeps_stale_pass_reads_only_the_stale_messages(web_role):
    # Workers behind: thousands relayed within the last minutes, one relayed long ago whose job Redis lost.
    now = timezone.now()
    relayed = OutboxMessage.Status.RELAYED
    OutboxMessage.objects.bulk_create(
        OutboxMessage(job_path="apps.x.job", kwargs={}, status=relayed, relayed_at=now - timedelta(seconds=i % 600))
        for i in range(MANY)
    )
    OutboxMessage.objects.create(job_path="apps.x.job", kwargs={}, status=relayed, relayed_at=now - timedelta(days=1))
    _analyze("common_outboxmessage")
    with django_as(web_role):
        with statements() as captured, pytest.MonkeyPatch.context() as patched:
            patched.setattr(outbox, "_relay", lambda message, queues: 1)
            patched.setattr(outbox.Job, "exists", classmethod(lambda cls, job_id, connection: False))
            assert outbox.outbox_sweep() == 1
        stale = [(sql, params) for sql, params in captured if '"relayed_at" <=' in sql]
        assert stale, captured
        assert seq_scans(stale, "common_outboxmessage") == []
        # Not the status index, which would fetch and sort every relayed message before the LIMIT.
        assert indexes_used(stale) == {"common_outbox_relayed_at"}
