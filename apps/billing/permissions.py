"""Billing's permission codes and what each system role is granted.

Autodiscovered by `apps.identity.rbac`; `manage.py seed_rbac` writes them to
the database. Only an owner may change the subscription: it commits money.
"""

from __future__ import annotations

from typing import Final

VIEW_SUBSCRIPTION: Final = "billing.view_subscription"
MANAGE_SUBSCRIPTION: Final = "billing.manage_subscription"
VIEW_USAGE: Final = "billing.view_usage"
VIEW_INVOICE: Final = "billing.view_invoice"

PERMISSIONS: Final[dict[str, str]] = {
    VIEW_SUBSCRIPTION: "See the tenant's plan, subscription status and entitlements",
    MANAGE_SUBSCRIPTION: "Change the tenant's plan",
    VIEW_USAGE: "See the tenant's usage for the current period",
    VIEW_INVOICE: "See the tenant's invoices",
}

_READ: Final = frozenset({VIEW_SUBSCRIPTION, VIEW_USAGE, VIEW_INVOICE})

GRANTS: Final[dict[str, frozenset[str]]] = {
    "owner": _READ | {MANAGE_SUBSCRIPTION},
    "admin": _READ,
}
