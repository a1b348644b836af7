"""The RLS bypass belongs to the operator role only (ADR 0008).

1. Every `tenant_isolation` policy that still carries the `app.bypass_rls`
   clause is rewritten: the policy keeps the tenant equality (for every role),
   and a second policy `operator_bypass ... TO atrium_rls_bypass` admits every
   row while the setting is on, for members of that role only. Tables are found
   through `pg_policies`; the roles table (NULL-tenant system rows) keeps its
   shared-rows form.
2. (identity 0006 adds the one function a mail job needs across tenants.)

PostgreSQL only (SQLite has no RLS). Fails, naming the setup script, when the
marker role is missing or the migrating role is not a member of it.
"""

from django.db import migrations

from apps.common import rls

# The policy as 0001/0002 created it, for migrating backwards.
_LEGACY_OWN = (
    "(tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid "
    "OR coalesce(current_setting('app.bypass_rls', true), '') = 'on')"
)

def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    rls.require_bypass_role(schema_editor)
    for table, shared_rows in rls.policed_tables(schema_editor).items():
        for sql in rls.policy_sql(table, shared_rows=shared_rows):
            schema_editor.execute(sql)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, shared_rows in rls.policed_tables(schema_editor).items():
        using = f"(tenant_id IS NULL OR {_LEGACY_OWN})" if shared_rows else _LEGACY_OWN
        schema_editor.execute(f'DROP POLICY IF EXISTS {rls.BYPASS_POLICY} ON "{table}"')
        schema_editor.execute(f'DROP POLICY IF EXISTS {rls.TENANT_POLICY} ON "{table}"')
        schema_editor.execute(f'CREATE POLICY {rls.TENANT_POLICY} ON "{table}" USING {using} WITH CHECK {_LEGACY_OWN}')


class Migration(migrations.Migration):
    dependencies = [
        ("common", "0002_idempotency"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
