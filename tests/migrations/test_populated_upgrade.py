"""Upgrading a populated database loses nothing, and the data migrations fill in what they promise.

The schema starts at a snapshot before the newest migrations of the apps that hold tenant data
(identity 0007 API keys, billing 0002 plan and subscription seed, flows 0002 onboarding seed;
files and integrations at their first migration, which later migrations must not disturb). Three
tenants' rows are written through the snapshot's historical models, each inside its own tenant
context as row-level security demands. Then: forward to the newest schema, every row still there
with every value; back to the snapshot (every one of these migrations is reversible), every row
still there again. The database is left at the newest schema for the tests after this one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import transaction

from apps.common import rls
from tests.migrations.support import migrate, migrate_to_latest, row_maker, rows, visible_ids
from tests.test_model_walker import tenant_tables

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SNAPSHOT = [
    ("common", "0003_rls_operator_bypass"),
    ("identity", "0006_user_memberships_function"),
    ("billing", "0001_initial"),
    ("flows", "0001_initial"),
    ("files", "0001_initial"),
    ("integrations", "0001_initial"),
]
WHEN = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)

# Tenant-owned models written at the snapshot, by app label and model name.
TENANT_MODELS = [
    ("identity", "Role"),
    ("identity", "Membership"),
    ("identity", "Portal"),
    ("identity", "Invitation"),
    ("billing", "Invoice"),
    ("billing", "UsageRecord"),
    ("flows", "FlowDefinition"),
    ("flows", "Step"),
    ("flows", "FlowRun"),
    ("flows", "AnalyticsEvent"),
    ("files", "File"),
    ("integrations", "WebhookEndpoint"),
    ("integrations", "WebhookEvent"),
    ("integrations", "WebhookDelivery"),
]
GLOBAL_MODELS = [("identity", "Tenant"), ("identity", "User")]
# (tenant plan_code, subscription_status) -> the subscription billing 0002 must give a tenant without one.
TENANTS = [
    ("pro", "active", None),  # already subscribed before billing 0002: must be left as it is
    ("enterprise", "canceled", ("enterprise", "canceled")),
    ("gold-legacy", "trialing", ("free", "active")),  # unknown plan and status fall back to free / active
]


def _populate(old: Any) -> dict[tuple[str, str], list[Any]]:
    """Three tenants' worth of rows at the snapshot; the ids written, by model."""
    made: dict[tuple[str, str], list[Any]] = {key: [] for key in GLOBAL_MODELS + TENANT_MODELS}
    made[("billing", "Subscription")] = []

    create = row_maker(old, made, when=WHEN)

    for i, (plan_code, status, _) in enumerate(TENANTS):
        with transaction.atomic():
            tenant = create(
                "identity",
                "Tenant",
                slug=f"legacy-{i}",
                name=f"Legacy {i}",
                plan_code=plan_code,
                subscription_status=status,
            )
            user = create("identity", "User", email=f"owner{i}@legacy.test", name=f"Owner {i}", password="!")
        with transaction.atomic():
            rls.apply_tenant(tenant.id)  # tenant rows are written inside the tenant's own context
            t = {"tenant_id": tenant.id}
            role = create("identity", "Role", code="support", name=f"Support {i}", permissions=["files.view"], **t)
            create("identity", "Membership", user_id=user.id, role_id=role.id, status="active", **t)
            portal = create(
                "identity", "Portal", slug=f"clients-{i}", name=f"Clients {i}", theme={"accent": f"#00{i}"}, **t
            )
            create(
                "identity",
                "Invitation",
                email=f"new{i}@legacy.test",
                role_id=role.id,
                role_code="support",
                expires_at=WHEN + timedelta(days=7),
                invited_by_id=user.id,
                **t,
            )
            create(
                "billing",
                "Invoice",
                plan_code=plan_code,
                period_start=WHEN,
                period_end=WHEN + timedelta(days=30),
                lines=[{"label": "seat", "cents": 1200 + i}],
                total_cents=1200 + i,
                **t,
            )
            create("billing", "UsageRecord", metric="api_calls", quantity=1000 * (i + 1), at=WHEN, **t)
            if i == 0:
                create(
                    "billing",
                    "Subscription",
                    plan_code="pro",
                    status="past_due",
                    current_period_start=WHEN,
                    current_period_end=WHEN + timedelta(days=30),
                    provider="stripe",
                    **t,
                )
                # An onboarding flow made by hand before flows 0002, with one of the default steps renamed.
                onboarding = create("flows", "FlowDefinition", code="onboarding", name="Our onboarding", **t)
                create("flows", "Step", flow_id=onboarding.id, code="complete_profile", title="Say hello", order=5, **t)
            flow = create("flows", "FlowDefinition", code="kyc", name=f"KYC {i}", portal_id=portal.id, **t)
            create("flows", "Step", flow_id=flow.id, code="upload_id", title="Upload your ID", order=10, **t)
            create("flows", "FlowRun", flow_id=flow.id, user_id=user.id, started_at=WHEN, **t)
            create(
                "flows",
                "AnalyticsEvent",
                portal="clients",
                event="page_view",
                properties={"n": i},
                user_id=user.id,
                **t,
            )
            create(
                "files",
                "File",
                name=f"contract {i}.pdf",
                safe_name=f"contract-{i}.pdf",
                size=2048 + i,
                content_type="application/pdf",
                sha256=f"{i:064x}",
                key=f"{tenant.id}/{i}",
                uploaded_by_id=user.id,
                **t,
            )
            endpoint = create(
                "integrations",
                "WebhookEndpoint",
                url=f"https://hooks{i}.example.test/in",
                events=["file.uploaded"],
                secret_encrypted=f"enc-{i}",
                created_by_id=user.id,
                **t,
            )
            event = create("integrations", "WebhookEvent", type="file.uploaded", payload={"file": i}, **t)
            create(
                "integrations",
                "WebhookDelivery",
                message_id=f"msg-{i}",
                endpoint_id=endpoint.id,
                event_id=event.id,
                attempts=2,
                log=[{"code": 500}],
                **t,
            )
    return made


def _snapshot(state: Any, made: dict[tuple[str, str], list[Any]]) -> dict[tuple[str, str], dict[Any, Any]]:
    return {key: rows(state.get_model(*key), ids) for key, ids in made.items()}


def _assert_unchanged(state: Any, before: dict[tuple[str, str], dict[Any, Any]]) -> None:
    for key, old_rows in before.items():
        model = state.get_model(*key)
        fields = next(iter(old_rows.values())).keys() if old_rows else None
        now = rows(model, old_rows, list(fields) if fields else None)
        assert now == old_rows, f"{key[0]}.{key[1]}: rows lost or changed by the migration"


def _assert_tenant_walls(state: Any, made: dict[tuple[str, str], list[Any]], tenants: list[Any]) -> None:
    """Each tenant still sees exactly its own rows of every tenant table (RLS survived the migration)."""
    walled = [key for key in TENANT_MODELS if state.get_model(*key)._meta.db_table in tenant_tables()]
    assert len(walled) == len(TENANT_MODELS) - 1  # all but Portal (global: resolved from the URL slug)
    for key in walled:
        model = state.get_model(*key)
        owner = rows(model, made[key], ["id", "tenant_id"])
        for tenant_id in tenants:
            mine = {pk for pk, row in owner.items() if row["tenant_id"] == tenant_id}
            assert visible_ids(model, tenant_id) & set(owner) == mine, f"{key}: tenant wall broken"


def test_upgrade_keeps_every_row_and_seeds_pre_existing_tenants_then_downgrades_cleanly() -> None:
    old = migrate(SNAPSHOT)
    try:
        made = _populate(old)
        tenants = made[("identity", "Tenant")]
        before = _snapshot(old, made)
        assert sum(len(r) for r in before.values()) == 3 * 16 + 3  # the fixture is what it says

        new = migrate_to_latest()
        _assert_unchanged(new, before)
        _assert_tenant_walls(new, made, tenants)

        # billing 0002: the built-in plans, and a subscription for each tenant that had none.
        plans = set(new.get_model("billing", "Plan")._base_manager.values_list("code", flat=True))
        assert {"free", "pro", "enterprise"} <= plans
        subs = new.get_model("billing", "Subscription")
        with transaction.atomic():
            rls.apply_bypass(True)
            by_tenant = {s.tenant_id: s for s in subs._base_manager.filter(tenant_id__in=tenants)}
        assert set(by_tenant) == set(tenants), "every pre-existing tenant has exactly one subscription"
        assert subs._base_manager.filter(tenant_id__in=tenants).count() == 0  # RLS: no context, no rows
        for tenant_id, (_, _, expected) in zip(tenants, TENANTS, strict=True):
            sub = by_tenant[tenant_id]
            if expected is None:
                assert (sub.id, sub.plan_code, sub.status) == (made[("billing", "Subscription")][0], "pro", "past_due")
            else:
                assert (sub.plan_code, sub.status) == expected
                assert sub.current_period_end > sub.current_period_start

        # flows 0002: the onboarding flow and its default steps; a hand-made step keeps its title.
        Step = new.get_model("flows", "Step")
        for i, tenant_id in enumerate(tenants):
            with transaction.atomic():
                rls.apply_tenant(tenant_id)
                steps = dict(
                    Step._base_manager.filter(flow__code="onboarding", flow__portal=None).values_list("code", "title")
                )
            assert set(steps) == {"complete_profile", "secure_account", "explore_portal"}
            if i == 0:
                assert steps["complete_profile"] == "Say hello"
        seeded = _seeded_ids(new, tenants, made)

        old = migrate(SNAPSHOT)  # every migration above the snapshot is reversible
        _assert_unchanged(old, before)
        _assert_tenant_walls(old, made, tenants)
        # The seeds' reverse is a no-op: what they wrote stays (data, not schema).
        assert _seeded_ids(old, tenants, made) == seeded
    finally:
        migrate_to_latest()


def _seeded_ids(state: Any, tenants: list[Any], made: dict[tuple[str, str], list[Any]]) -> set[Any]:
    ids: set[Any] = set()
    for key in (("billing", "Subscription"), ("flows", "FlowDefinition"), ("flows", "Step")):
        model = state.get_model(*key)
        with transaction.atomic():
            rls.apply_bypass(True)
            ids |= set(model._base_manager.filter(tenant_id__in=tenants).values_list("pk", flat=True))
    return ids - {pk for ids_ in made.values() for pk in ids_}


def test_the_snapshot_is_older_than_the_newest_schema_of_the_apps_with_migrations_to_run() -> None:
    """The upgrade above exercises real migrations: identity, billing and flows each have some after the snapshot."""
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    graph = MigrationLoader(connection, ignore_no_migrations=True).graph
    leaves = dict(graph.leaf_nodes())
    for app, name in SNAPSHOT:
        assert (app, name) in graph.nodes, f"{app}.{name} is gone: move the snapshot"
        if app in ("identity", "billing", "flows"):
            assert leaves[app] != name, f"{app} has nothing after {name}: move the snapshot back"
