"""Each table a tenant owns is found by its tenant through an index, not read whole.

Export, offboarding and import select a tenant's rows of every owned model
(`ownership.owned_models`) by its tenant column, or through the parent it hangs
from; so do the tenant-scoped managers on every request. Without an index leading
with that column, each of those reads every tenant's rows: on a platform of many
tenants, offboarding one would read them all inside its erase transaction.
"""

from __future__ import annotations

import pytest
from django.db import connection

from apps.operations.ownership import owned_models

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _leading_columns(table: str) -> set[str]:
    """The first column of each index of `table` (expression indexes have none)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid "
            "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0] WHERE t.relname = %s",
            [table],
        )
        return {row[0] for row in cursor.fetchall()}


def test_every_owned_table_has_an_index_leading_with_the_column_that_finds_a_tenants_rows():
    missing = []
    for owned in owned_models():
        first = owned.lookup.split("__")[0]
        field = owned.model._meta.get_field(first)
        column = getattr(field, "column", first)
        if column not in _leading_columns(owned.model._meta.db_table):
            missing.append(f"{owned.label}: {owned.model._meta.db_table}.{column}")
    assert not missing, "no index leads with the column a tenant's rows are found by:\n" + "\n".join(missing)
