"""PostgreSQL row-level security: the database's own tenant wall.

Every tenant table gets a FORCEd policy (so the table owner obeys it too)
comparing `tenant_id` with the transaction-local setting `app.tenant_id`. The
setting is applied with `set_config(..., true)`: it ends with the transaction,
so a pooled connection never carries one request's tenant into the next. An
expired setting reads as '' (not NULL), hence the NULLIF. `app.bypass_rls` is
set only by `apps.common.tenancy.unscoped()`, the named escape.

On SQLite (the embedded dev default) these are no-ops: the ORM wall remains.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

TENANT_SETTING = "app.tenant_id"
BYPASS_SETTING = "app.bypass_rls"

_CURRENT = f"NULLIF(current_setting('{TENANT_SETTING}', true), '')::uuid"
_BYPASS = f"coalesce(current_setting('{BYPASS_SETTING}', true), '') = 'on'"


def is_postgres(conn: Any = None) -> bool:
    return (conn or connection).vendor == "postgresql"


def apply_tenant(tenant_id: Any | None) -> None:
    """Set (or clear) the transaction-local tenant for the current transaction."""
    if is_postgres():
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config(%s, %s, true)", [TENANT_SETTING, str(tenant_id or "")])


def apply_bypass(on: bool) -> None:
    if is_postgres():
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config(%s, %s, true)", [BYPASS_SETTING, "on" if on else ""])


def policy_sql(table: str, *, shared_rows: bool = False) -> list[str]:
    """SQL enabling and forcing RLS on `table`.

    `shared_rows`: rows with a NULL tenant (system rows) are readable by every
    tenant but writable only through the escape (the roles table).
    """
    own = f"(tenant_id = {_CURRENT} OR {_BYPASS})"
    using = f"(tenant_id IS NULL OR {own})" if shared_rows else own
    return [
        f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY',
        f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY',
        f'DROP POLICY IF EXISTS tenant_isolation ON "{table}"',
        f'CREATE POLICY tenant_isolation ON "{table}" USING {using} WITH CHECK {own}',
    ]


def _drop_sql(table: str) -> list[str]:
    return [
        f'DROP POLICY IF EXISTS tenant_isolation ON "{table}"',
        f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY',
        f'ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY',
    ]


class EnableRowLevelSecurity(migrations.operations.base.Operation):
    """Migration operation: FORCEd tenant policy on a model's table (PostgreSQL only)."""

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
