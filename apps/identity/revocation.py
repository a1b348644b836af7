"""Revocation at the next request, for one cache round trip.

An access token lives at most 15 minutes and is never looked up in the
database. What ends it early is a mark in the shared cache (Redis in
production, so every app server sees it): its session (`sid`), its own `jti`,
or a "not before" time for its user or tenant. `check()` reads all of them and
the RBAC version with one `get_many`. Marks expire with the longest access
token they could concern.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.cache import cache

from apps.identity.rbac import RBAC_VERSION_KEY, rbac_version_from

PREFIX = "auth:rev"


def _ttl() -> int:
    # A mark must outlive every access token minted before it.
    return int(settings.ACCESS_TOKEN_LIFETIME.total_seconds()) + 60


def sid_key(sid: UUID | str) -> str:
    return f"{PREFIX}:sid:{sid}"


def jti_key(jti: str) -> str:
    return f"{PREFIX}:jti:{jti}"


def user_key(user_id: UUID | str) -> str:
    return f"{PREFIX}:user:{user_id}"


def tenant_key(tenant_id: UUID | str) -> str:
    return f"{PREFIX}:tenant:{tenant_id}"


def revoke_sessions(session_ids: Iterable[UUID | str]) -> None:
    marks = {sid_key(sid): 1 for sid in session_ids}
    if marks:
        cache.set_many(marks, timeout=_ttl())


def revoke_jti(jti: str) -> None:
    cache.set(jti_key(jti), 1, timeout=_ttl())


def revoke_user_before_now(user_id: UUID | str) -> None:
    """Every access token of the user issued up to now stops working."""
    cache.set(user_key(user_id), int(time.time()), timeout=_ttl())


def revoke_tenant_before_now(tenant_id: UUID | str) -> None:
    cache.set(tenant_key(tenant_id), int(time.time()), timeout=_ttl())


@dataclass(frozen=True)
class CheckResult:
    revoked: bool
    rbac_version: int


def check(*, sid: str, jti: str, user_id: str, tenant_id: str, issued_at: int) -> CheckResult:
    """One round trip: is this token revoked, and which RBAC version is current."""
    keys = [sid_key(sid), jti_key(jti), user_key(user_id), tenant_key(tenant_id), RBAC_VERSION_KEY]
    values: dict[str, Any] = cache.get_many(keys)
    revoked = keys[0] in values or keys[1] in values
    for key in (keys[2], keys[3]):
        not_before = values.get(key)
        # Same-second issue after a revocation is refused too: err on the side of ending access.
        if not_before is not None and issued_at <= int(not_before):
            revoked = True
    return CheckResult(revoked=revoked, rbac_version=rbac_version_from(values.get(RBAC_VERSION_KEY)))
