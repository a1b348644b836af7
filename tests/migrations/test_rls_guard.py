"""A new tenant table without forced row-level security fails the suite.

`tests/test_model_walker.py::test_every_tenant_table_has_forced_row_level_security` asserts
`tables_without_forced_rls(tenant_tables()) == []`. Here the same check runs on a throwaway table
with a `tenant_id` column, created inside the test's transaction (PostgreSQL DDL rolls back with
it, so nothing outlives the test): without RLS, with RLS enabled but not forced, and with the
policies every Atrium migration applies (`apps.common.rls.policy_sql`).
"""

from __future__ import annotations

import pytest
from django.db import connection

from apps.common import rls
from tests.test_model_walker import tables_without_forced_rls, tenant_tables

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

PROBE = "atrium_h5_probe_tenant_notes"


def _create_probe(schema: str | None = None) -> str:
    name = f'"{schema}"."{PROBE}"' if schema else f'"{PROBE}"'
    with connection.cursor() as cursor:
        if schema:
            cursor.execute(f'CREATE SCHEMA "{schema}"')
        cursor.execute(f"CREATE TABLE {name} (id uuid PRIMARY KEY, tenant_id uuid NOT NULL, body text)")
    return name


def _run(statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def test_a_tenant_table_without_row_level_security_fails_the_walker_check() -> None:
    assert tables_without_forced_rls(tenant_tables()) == []  # the real schema passes before the probe
    _create_probe()
    assert tables_without_forced_rls([*tenant_tables(), PROBE]) == [PROBE]


def test_enabled_but_not_forced_still_fails_because_the_owner_would_bypass_it() -> None:
    _create_probe()
    _run([f'ALTER TABLE "{PROBE}" ENABLE ROW LEVEL SECURITY'])
    assert tables_without_forced_rls([PROBE]) == [PROBE]


def test_the_policies_atrium_migrations_apply_satisfy_the_check() -> None:
    _create_probe()
    _run(rls.policy_sql(PROBE))
    assert tables_without_forced_rls([PROBE]) == []


def test_a_protected_table_of_the_same_name_in_another_schema_does_not_hide_the_gap() -> None:
    scratch = "atrium_h5_scratch"
    _create_probe(scratch)
    _run([f'SET LOCAL search_path TO "{scratch}"', *rls.policy_sql(PROBE), "RESET search_path"])
    assert tables_without_forced_rls([PROBE], schema=scratch) == []
    _create_probe()  # the same name in the current schema, without RLS
    assert tables_without_forced_rls([PROBE]) == [PROBE]
