"""PostgreSQL row-level security: the database's own tenant wall.

Every tenant table gets FORCEd policies (so the table owner obeys them too):

- `tenant_isolation`, for every role: `tenant_id` equals the transaction-local
  setting `app.tenant_id`. The setting is applied with `set_config(..., true)`:
  it ends with the transaction, so a pooled connection never carries one
  request's tenant into the next. An expired setting reads as '' (not NULL),
  hence the NULLIF.
- `operator_bypass`, only `TO atrium_rls_bypass`: every row while the
  transaction-local `app.bypass_rls` is on. `apps.common.tenancy.unscoped()`
  sets it. Any role may set the setting, but the policy applies only to
  members of that NOLOGIN marker role: the operator role (migrations,
  management commands) is one, the web and worker role is not. So no SQL the
  request path runs, an injected statement included, can lift the wall, and
  the planner sees a plain equality for the web role (ADR 0008).

`scripts/db/create-app-role.sh` creates the roles. On SQLite (the embedded dev
default) all of this is a no-op: the ORM wall remains.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

TENANT_SETTING = "app.tenant_id"
BYPASS_SETTING = "app.bypass_rls"
BYPASS_ROLE = "atrium_rls_bypass"
TENANT_POLICY = "tenant_isolation"
BYPASS_POLICY = "operator_bypass"

_CURRENT = f"NULLIF(current_setting('{TENANT_SETTING}', true), '')::uuid"
_BYPASS = f"coalesce(current_setting('{BYPASS_SETTING}', true), '') = 'on'"
_SETUP_HINT = "run scripts/db/create-app-role.sh (as a PostgreSQL superuser) and migrate as the operator role it names"


class BypassUnavailable(RuntimeError):
    """`unscoped()` on a connection whose database role cannot lift row-level security (the web role)."""


def is_postgres(conn: Any = None) -> bool:
    return (conn or connection).vendor == "postgresql"


def apply_tenant(tenant_id: Any | None) -> None:
    """Set (or clear) the transaction-local tenant for the current transaction."""
    if is_postgres():
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config(%s, %s, true)", [TENANT_SETTING, str(tenant_id or "")])


def apply_bypass(on: bool) -> None:
    """Set (or clear) the transaction-local bypass; turning it on raises unless this role may use it.

    On a role outside `atrium_rls_bypass` the setting would change nothing, and
    operator code would quietly see no rows: it fails loudly instead (same query).
    """
    if not is_postgres():
        return
    with connection.cursor() as cursor:
        if not on:
            cursor.execute("SELECT set_config(%s, '', true)", [BYPASS_SETTING])
            return
        cursor.execute(
            "SELECT set_config(%s, 'on', true), current_user, EXISTS "
            "(SELECT FROM pg_roles WHERE rolname = %s AND pg_has_role(current_user, oid, 'USAGE'))",
            [BYPASS_SETTING, BYPASS_ROLE],
        )
        _, user, allowed = cursor.fetchone()
    if not allowed:
        raise BypassUnavailable(
            f"`unscoped()` needs the operator database role: {user!r} is not a member of {BYPASS_ROLE!r}, so "
            "row-level security stays on. Operator code (management commands, migrations) connects as the "
            "operator role; web and worker processes never lift the wall (ADR 0008)."
        )


def require_bypass_role(schema_editor: BaseDatabaseSchemaEditor) -> None:
    """Migrations that write policies need the marker role, and run as one of its members."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_user, EXISTS (SELECT FROM pg_roles WHERE rolname = %s), "
            "EXISTS (SELECT FROM pg_roles WHERE rolname = %s AND pg_has_role(current_user, oid, 'USAGE'))",
            [BYPASS_ROLE, BYPASS_ROLE],
        )
        user, exists, member = cursor.fetchone()
    if not exists:
        raise RuntimeError(f"The PostgreSQL role {BYPASS_ROLE!r} does not exist: {_SETUP_HINT}.")
    if not member:
        raise RuntimeError(
            f"Migrations run as the operator role (a member of {BYPASS_ROLE!r}), not as {user!r}: {_SETUP_HINT}."
        )


def policy_sql(table: str, *, shared_rows: bool = False) -> list[str]:
    """SQL enabling and forcing RLS on `table`, with the tenant policy and the operator's bypass.

    `shared_rows`: rows with a NULL tenant (system rows) are readable by every
    tenant but writable only through the operator's bypass (the roles table).
    Rerunnable: it replaces both policies.
    """
    own = f"(tenant_id = {_CURRENT})"
    using = f"(tenant_id IS NULL OR {own})" if shared_rows else own
    return [
        f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY',
        f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY',
        f'DROP POLICY IF EXISTS {TENANT_POLICY} ON "{table}"',
        f'CREATE POLICY {TENANT_POLICY} ON "{table}" USING {using} WITH CHECK {own}',
        f'DROP POLICY IF EXISTS {BYPASS_POLICY} ON "{table}"',
        f'CREATE POLICY {BYPASS_POLICY} ON "{table}" TO {BYPASS_ROLE} USING ({_BYPASS}) WITH CHECK ({_BYPASS})',
    ]


def _drop_sql(table: str) -> list[str]:
    return [
        f'DROP POLICY IF EXISTS {BYPASS_POLICY} ON "{table}"',
        f'DROP POLICY IF EXISTS {TENANT_POLICY} ON "{table}"',
        f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY',
        f'ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY',
    ]


def policed_tables(schema_editor: BaseDatabaseSchemaEditor) -> dict[str, bool]:
    """Every table of the current schema with a tenant policy → whether it has shared (NULL-tenant) rows."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename, qual FROM pg_policies WHERE schemaname = current_schema() AND policyname = %s "
            "ORDER BY tablename",
            [TENANT_POLICY],
        )
        return {table: "tenant_id IS NULL" in (qual or "") for table, qual in cursor.fetchall()}


class EnableRowLevelSecurity(migrations.operations.base.Operation):
    """Migration operation: FORCEd tenant policy and operator bypass on a model's table (PostgreSQL only)."""

    reduces_to_sql = True
    reversible = True

    def __init__(self, model_name: str, shared_rows: bool = False) -> None:
        self.model_name = model_name
        self.shared_rows = shared_rows

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass

    def _table(self, app_label: str, apps: StateApps) -> str:
        return str(apps.get_model(app_label, self.model_name)._meta.db_table)

    def database_forwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: Any, to_state: Any
    ) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        require_bypass_role(schema_editor)
        for sql in policy_sql(self._table(app_label, to_state.apps), shared_rows=self.shared_rows):
            schema_editor.execute(sql)

    def database_backwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: Any, to_state: Any
    ) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in _drop_sql(self._table(app_label, from_state.apps)):
            schema_editor.execute(sql)

    def describe(self) -> str:
        return f"Enable row-level security on {self.model_name}"

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        kwargs: dict[str, Any] = {"model_name": self.model_name}
        if self.shared_rows:
            kwargs["shared_rows"] = True
        return (f"{__name__}.{type(self).__name__}", [], kwargs)
