"""Hot tenant reads without a transaction: the tenant setting rides in the same round trip as each statement.

A tenant request normally opens a transaction whose first statement is the tenant setting
(`tenant_context`): BEGIN, `set_config`, the reads, COMMIT, four round trips or more for a
one-query page. A read needs none of the transaction: PostgreSQL runs the statements of one
simple-protocol message as one implicit transaction, so

    SELECT set_config('app.tenant_id', '<tenant>', true); SELECT ... FROM identity_auditevent ...

sent as one message reads under row-level security as `<tenant>`, in one round trip, and the
setting dies with that implicit transaction, as it dies with the request's transaction today.

`tenant_reads(tenant)` does that for every statement of its block on the default connection:

- it binds the tenant context (the ORM wall), as `tenant_context` does;
- it issues the tenant setting through Django's cursor as usual (so anything watching the
  statements, `execute_wrapper`s, query logs, sees the same statements as before), but the
  innermost wrapper holds it back and sends it in front of each following statement instead;
- only outside any transaction (autocommit), and only on PostgreSQL. Inside an atomic block
  (a test's transaction, a service's) it steps aside and the block's own `tenant_context`
  governs; a statement that runs there without one sees no tenant rows (RLS fails closed);
- `executemany` is refused: writes have no business on this path.

`available()` says whether the connection is in that state. The API base classes use this for
the read actions a view names in `lean_actions` (ADR 0012); every other request keeps its
transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from django.db import connection
from django.db.transaction import TransactionManagementError

from apps.common import rls
from apps.common.tenancy import TenantLike, tenant_bound

_SET_TENANT = "SELECT set_config(%s, %s, true)"


def available() -> bool:
    """True when the default connection is PostgreSQL in autocommit, outside every atomic block."""
    return connection.vendor == "postgresql" and not connection.in_atomic_block and connection.get_autocommit()


class _TenantPerStatement:
    """The innermost execute wrapper: prepends the tenant setting to each statement sent outside a transaction."""

    def __init__(self, tenant_id: Any) -> None:
        # A UUID's text is hex and hyphens: safe as a literal, and never mistaken for a placeholder.
        self.prefix = f"SELECT set_config('{rls.TENANT_SETTING}', '{UUID(str(tenant_id))}', true); "
        self.setting = [rls.TENANT_SETTING, str(tenant_id)]
        self.held = False

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        if connection.in_atomic_block:
            return execute(sql, params, many, context)  # a transaction's own statements: its setting governs
        if many:
            raise TransactionManagementError("No executemany on a tenant read path: writes open a transaction.")
        if not self.held and sql == _SET_TENANT and list(params or ()) == self.setting:
            self.held = True  # the setting of `tenant_reads` itself: it travels with each statement below
            return None
        result = execute(self.prefix + sql, params, many, context)
        context["cursor"].cursor.nextset()  # past set_config's row to the statement's own result
        return result


@contextmanager
def tenant_reads(tenant: TenantLike) -> Iterator[TenantLike]:
    """Run the block's reads as `tenant`, one round trip per statement, no transaction (see the module)."""
    if not available():
        raise TransactionManagementError("tenant_reads() runs outside any transaction, on PostgreSQL.")
    wrapper = _TenantPerStatement(tenant.id)
    with tenant_bound(tenant), connection.execute_wrapper(wrapper):
        rls.apply_tenant(tenant.id)  # held by the wrapper; seen by every wrapper outside it
        yield tenant
