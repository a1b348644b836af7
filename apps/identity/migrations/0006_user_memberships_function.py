"""`identity_user_memberships(user)`: the one cross-tenant fact the request path needs.

A user's own memberships across tenants — for "the first portal of their
oldest membership" (where a mailed link points) and "every tenant whose
administrators see this account event" (audit) — cannot be read on the web
or worker role, which cannot lift row-level security (ADR 0008). This
SECURITY DEFINER function (it runs as the operator role that migrates) turns
the bypass on for its own fixed query only and answers, for one user id,
tenant id, role code and status of each membership of a tenant not
offboarded, oldest first. EXECUTE is revoked from PUBLIC;
the web role is granted it by scripts/db/create-app-role.sh. PostgreSQL only.
"""

from django.db import migrations

_FUNCTION = "identity_user_memberships"


def _function_sql(schema: str) -> list[str]:
    q = f'"{schema}"'
    return [
        f"""
        CREATE OR REPLACE FUNCTION {q}.{_FUNCTION}(p_user uuid)
        RETURNS TABLE (tenant_id uuid, role_code text, status text)
        LANGUAGE plpgsql VOLATILE SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp
        AS $fn$
        DECLARE
          outer_bypass text := current_setting('app.bypass_rls', true);
        BEGIN
          PERFORM set_config('app.bypass_rls', 'on', true);
          RETURN QUERY
            SELECT m.tenant_id, r.code::text, m.status::text
            FROM {q}.identity_membership m
            JOIN {q}.identity_tenant t ON t.id = m.tenant_id
            JOIN {q}.identity_role r ON r.id = m.role_id
            WHERE m.user_id = p_user AND t.status <> 'offboarded'
            ORDER BY m.created_at, m.id;
          PERFORM set_config('app.bypass_rls', coalesce(outer_bypass, ''), true);
        END
        $fn$
        """,
        f"REVOKE ALL ON FUNCTION {q}.{_FUNCTION}(uuid) FROM PUBLIC",
    ]


def _schema(schema_editor) -> str:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        return cursor.fetchone()[0]




def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for sql in _function_sql(_schema(schema_editor)):
        schema_editor.execute(sql)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f'DROP FUNCTION IF EXISTS "{_schema(schema_editor)}".{_FUNCTION}(uuid)')


class Migration(migrations.Migration):
    dependencies = [
        ("identity", "0005_pending_signup"),
        ("common", "0003_rls_operator_bypass"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
