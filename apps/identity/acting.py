"""Who acts through an API key: its principal, and the request-wide mark services read.

A key's principal is the ordinary `Principal` (so RBAC, selectors and templates see no
difference) with the key's role as its one role, its creator as `user_id`, and the key
named. While a tenant view handles a key's request, `acting_through()` marks the context,
so that the services' one rule for "what may this actor do" (`services.grants`) uses the
key's role rather than the creator's membership, and every audit event the request writes
names the key (`data.api_client`, its public prefix). docs/adr/0015-api-keys-in-identity.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from apps.identity.principal import Principal

# `amr` of a key's principal: no person signed in.
API_KEY_AMR = "api_key"
# Audit data key naming the key a request acted through (not credential-looking: the prefix is public).
AUDIT_FIELD = "api_client"


@dataclass(frozen=True)
class ApiKeyPrincipal(Principal):
    """A request made with an API key: `user_id` is the key's creator, `roles` the key's role.

    `sid` is the key's id and `jti` is `apikey:<prefix>`, so nothing keyed by a session
    can be confused with a person's session; `amr` is `("api_key",)`.
    """

    api_key_id: UUID | None = None
    api_key_prefix: str = ""


_acting: ContextVar[ApiKeyPrincipal | None] = ContextVar("atrium_acting_api_key", default=None)


@contextmanager
def acting_through(principal: ApiKeyPrincipal) -> Iterator[None]:
    """Mark the block as acting through `principal`'s key (a tenant view's handler)."""
    token = _acting.set(principal)
    try:
        yield
    finally:
        _acting.reset(token)


def acting_api_key() -> ApiKeyPrincipal | None:
    """The key the current request acts through, or None (a person, a job, a command)."""
    return _acting.get()


def acting_key_of(actor_id: Any) -> ApiKeyPrincipal | None:
    """The acting key when `actor_id` is its creator (the actor a service was handed), else None."""
    key = _acting.get()
    return key if key is not None and str(key.user_id) == str(actor_id) else None


def audit_data_with_key(actor_id: Any, data: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """`data` plus the acting key's prefix when the event's actor acts through a key."""
    key = acting_key_of(actor_id) if actor_id is not None else None
    if key is None:
        return data
    return {**(data or {}), AUDIT_FIELD: key.api_key_prefix}
