"""The oldest upgrade path on populated data: identity before invitations kept their role's code.

The snapshot is identity 0003 and common 0002: before the invitation role snapshot (0004, a
data migration), pending sign-ups (0005), the memberships function (0006), API keys (0007),
and before common 0003 rewrote every tenant table's row-level security policy to give the
bypass to the operator role only; billing, files, flows and integrations not yet created. Two
tenants' identity rows (one user a member of both) are written inside each tenant's context
under the old policies. Forward to the newest schema: every row and value kept, invitations
carry their role's code, each tenant still sees only its own rows under the rewritten policies,
the memberships function answers across tenants, and the tenants created before billing and
flows get their subscription and onboarding steps. Back to the snapshot (all reversible): the
identity and common rows intact again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection, transaction

from apps.common import rls
from tests.migrations.support import migrate, migrate_to_latest, row_maker, rows, visible_ids
from tests.test_model_walker import tables_without_forced_rls, tenant_tables

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

DEEP = [
    ("common", "0002_idempotency"),
    ("identity", "0003_mfa"),
    ("billing", None),
    ("flows", None),
    ("files", None),
    ("integrations", None),
]
WHEN = datetime(2025, 11, 2, 8, 0, tzinfo=UTC)


def _populate(old: Any) -> tuple[dict[tuple[str, str], list[Any]], list[Any], Any]:
    made: dict[tuple[str, str], list[Any]] = {}

    create = row_maker(old, made, when=WHEN)

    with transaction.atomic():
        shared = create("identity", "User", email="both@old.test", name="In both", password="!")
        tenants = [
            create("identity", "Tenant", slug=f"old-{i}", name=f"Old {i}", plan_code="pro", subscription_status=s)
            for i, s in enumerate(("active", "past_due"))
        ]
    for i, tenant in enumerate(tenants):
        with transaction.atomic():
            rls.apply_tenant(tenant.id)
            t = {"tenant_id": tenant.id}
            role = create("identity", "Role", code=f"agent{i}", name=f"Agent {i}", permissions=["members.view"], **t)
            create("identity", "Membership", user_id=shared.id, role_id=role.id, status="active", **t)
            portal = create("identity", "Portal", slug=f"old-portal-{i}", name=f"Portal {i}", **t)
            create("identity", "Invitation", email=f"guest{i}@old.test", role_id=role.id, expires_at=WHEN, **t)
            create(
                "identity", "AuthSession", user_id=shared.id, portal_id=portal.id, user_agent="old-browser",
                expires_at=WHEN + timedelta(days=30), ip="10.0.0.1", amr=["pwd"], **t,
            )  # fmt: skip
            create(
                "identity", "AuditEvent", seq=1, action="auth.login", actor_id=shared.id, actor_email="both@old.test",
                target_type="session", target_id=str(i), prev_hash="0" * 64, hash=f"{i:064x}", data={"n": i}, **t,
            )  # fmt: skip
            create(
                "common", "IdempotencyRecord", user_id=shared.id, endpoint="POST /x", key=f"k{i}", fingerprint="f",
                status_code=201, response_body={"ok": i}, **t,
            )  # fmt: skip
    return made, [t.id for t in tenants], shared.id


def test_identity_rows_survive_from_before_the_role_snapshot_and_the_policy_rewrite() -> None:
    old = migrate(DEEP)
    try:
        made, tenants, user_id = _populate(old)
        before = {key: rows(old.get_model(*key), ids) for key, ids in made.items()}
        assert sum(len(r) for r in before.values()) == 3 + 2 * 7

        new = migrate_to_latest()
        for key, old_rows in before.items():
            fields = list(next(iter(old_rows.values())))
            assert rows(new.get_model(*key), old_rows, fields) == old_rows, key
        invitations = rows(new.get_model("identity", "Invitation"), made[("identity", "Invitation")])
        assert sorted(i["role_code"] for i in invitations.values()) == ["agent0", "agent1"]  # identity 0004's fill
        assert tables_without_forced_rls(tenant_tables()) == []
        walled = [key for key in made if new.get_model(*key)._meta.db_table in tenant_tables()]
        assert len(walled) == 5  # role, membership, invitation, audit event, idempotency record
        for key in walled:
            model = new.get_model(*key)
            owner = rows(model, made[key], ["id", "tenant_id"])
            for tenant_id in tenants:
                mine = {pk for pk, row in owner.items() if row["tenant_id"] == tenant_id}
                assert visible_ids(model, tenant_id) & set(owner) == mine, key
        with connection.cursor() as cursor:  # identity 0006: one user's memberships across tenants
            cursor.execute("SELECT tenant_id, role_code FROM identity_user_memberships(%s)", [user_id])
            assert sorted(cursor.fetchall(), key=lambda r: r[1]) == [(tenants[0], "agent0"), (tenants[1], "agent1")]
        with transaction.atomic():
            rls.apply_bypass(True)
            subs = new.get_model("billing", "Subscription")._base_manager.filter(tenant_id__in=tenants)
            assert sorted(s.status for s in subs) == ["active", "past_due"]  # billing 0002 mirrors the tenant row
            steps = new.get_model("flows", "Step")._base_manager.filter(tenant_id__in=tenants, flow__code="onboarding")
            assert steps.count() == 2 * 3  # flows 0002: the three default steps for each tenant

        old = migrate(DEEP)
        for key, old_rows in before.items():
            assert rows(old.get_model(*key), old_rows) == old_rows, key
        for tenant_id in tenants:  # the old policies are back, and still keep tenants apart
            assert visible_ids(old.get_model("identity", "Membership"), tenant_id) & set(
                made[("identity", "Membership")]
            ) == {pk for pk, r in before[("identity", "Membership")].items() if r["tenant_id"] == tenant_id}
    finally:
        migrate_to_latest()
