"""The built-in plan catalogue: what the `billing_plan` table is seeded with, and the fallback when it is empty.

Pure data (no models), so the seeding data migration and `plan_seed` share one
definition. Prices are integer cents. `limits` are what identity's plugs
answer (`None`: unlimited); `metered` prices usage above what the plan
includes: each started block of `per` units over `included` costs `cents`.
"""

from __future__ import annotations

from typing import Any, Final

from apps.identity.plugs import FEATURE_API_KEYS as _IDENTITY_API_KEYS
from apps.identity.plugs import FEATURE_CUSTOM_ROLES as _IDENTITY_CUSTOM_ROLES

FREE: Final = "free"
PRO: Final = "pro"
ENTERPRISE: Final = "enterprise"

# Feature codes a plan may grant; views gate on them with `required_feature`.
FEATURE_PORTALS: Final = "portals"
FEATURE_FILES: Final = "files"
FEATURE_ONBOARDING: Final = "onboarding"
FEATURE_ANALYTICS: Final = "analytics"
FEATURE_CUSTOM_ROLES: Final = _IDENTITY_CUSTOM_ROLES  # identity gates role changes on it
FEATURE_API_KEYS: Final = _IDENTITY_API_KEYS  # identity gates key creation on it
FEATURE_WEBHOOKS: Final = "webhooks"
FEATURE_AUDIT_EXPORT: Final = "audit_export"
FEATURE_PRIORITY_SUPPORT: Final = "priority_support"

MIB: Final = 1024 * 1024
GIB: Final = 1024 * MIB

_BASIC = [FEATURE_PORTALS, FEATURE_FILES, FEATURE_ONBOARDING]
_PRO = [*_BASIC, FEATURE_ANALYTICS, FEATURE_CUSTOM_ROLES, FEATURE_API_KEYS, FEATURE_WEBHOOKS]

DEFAULT_PLANS: Final[list[dict[str, Any]]] = [
    {
        "code": FREE,
        "name": "Free",
        "price_cents": 0,
        "currency": "usd",
        "interval": "month",
        "trial_days": 0,
        "position": 0,
        "features": list(_BASIC),
        "limits": {"seats": 5, "portals": 3, "storage_bytes": 100 * MIB},
        "metered": {},
    },
    {
        "code": PRO,
        "name": "Pro",
        "price_cents": 4900,
        "currency": "usd",
        "interval": "month",
        "trial_days": 14,
        "position": 1,
        "features": list(_PRO),
        "limits": {"seats": 25, "portals": 10, "storage_bytes": 10 * GIB},
        "metered": {"api_calls": {"included": 100_000, "per": 10_000, "cents": 100}},
    },
    {
        "code": ENTERPRISE,
        "name": "Enterprise",
        "price_cents": 49900,
        "currency": "usd",
        "interval": "month",
        "trial_days": 14,
        "position": 2,
        "features": [*_PRO, FEATURE_AUDIT_EXPORT, FEATURE_PRIORITY_SUPPORT],
        "limits": {"seats": None, "portals": None, "storage_bytes": 1024 * GIB},
        "metered": {"api_calls": {"included": 5_000_000, "per": 100_000, "cents": 500}},
    },
]

DEFAULT_BY_CODE: Final[dict[str, dict[str, Any]]] = {plan["code"]: plan for plan in DEFAULT_PLANS}
