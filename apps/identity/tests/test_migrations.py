"""Migrations forward on populated data: nothing lost."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from apps.common import rls

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("identity", "0003_mfa")]
AFTER = [("identity", "0004_invitation_role_snapshot")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_invitations_keep_the_code_of_the_role_they_offer():
    old_apps = _migrate(BEFORE)
    try:
        Tenant = old_apps.get_model("identity", "Tenant")
        Role = old_apps.get_model("identity", "Role")
        Invitation = old_apps.get_model("identity", "Invitation")
        with transaction.atomic():
            rls.apply_bypass(True)  # a data fixture across tenants, as operator code would write it
            tenant = Tenant.objects.create(id=uuid.uuid4(), slug="migrating", name="Migrating")
            role = Role.objects.create(id=uuid.uuid4(), tenant_id=tenant.id, code="support", name="Support")
            invitation = Invitation.objects.create(
                id=uuid.uuid4(),
                tenant_id=tenant.id,
                email="x@example.test",
                role_id=role.id,
                expires_at=timezone.now(),
            )
    finally:
        new_apps = _migrate(AFTER)
    try:
        with transaction.atomic():
            rls.apply_bypass(True)
            migrated = new_apps.get_model("identity", "Invitation").objects.get(id=invitation.id)
        assert migrated.role_code == "support"
        assert migrated.role_id == role.id
    finally:
        _migrate_to_latest()


def _migrate_to_latest():
    """Leave the schema as the other tests expect it: every app at its newest migration."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
