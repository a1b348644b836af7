"""Who is calling: the principal a verified access token names, and how it is read from the token's claims.

Apart from the authentication that verifies the token, so that what only needs
to know who is calling (RBAC's request checks, selectors) does not depend on
how the caller was authenticated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID


@dataclass(frozen=True)
class TenantRef:
    """The tenant of a request as the token names it: enough for the tenant context, no query."""

    id: UUID
    slug: str


@dataclass(frozen=True)
class Principal:
    """Who is calling, from a verified access token (`request.auth`).

    The one principal type: the bearer authentication (`apps.identity.authentication`)
    leaves it on `request.auth`; RBAC's request checks (`apps.identity.rbac.request_checks`,
    `ActionPermission`, the template filter `can`) read `tenant_id`, `roles` and
    `rbac_version` from it, and hold nothing for any other `request.auth`.
    """

    user_id: UUID
    tenant: TenantRef
    portal: str
    roles: tuple[str, ...]
    sid: UUID
    jti: str
    amr: tuple[str, ...]
    issued_at: int
    expires_at: int
    rbac_version: int | None = None

    @property
    def tenant_id(self) -> UUID:
        return self.tenant.id

    @property
    def role(self) -> str:
        return self.roles[0]


def principal_from_payload(payload: dict[str, Any]) -> Principal:
    """The caller named by a verified payload.

    `AtriumAccessToken` has already held every claim to its form
    (`tokens.ACCESS_CLAIMS`: UUIDs, slugs, one role, integer times), so
    nothing here can fail on a claim's type: the one check lives there.
    """
    return Principal(
        user_id=UUID(payload["sub"]),
        tenant=TenantRef(id=UUID(payload["tenant_id"]), slug=payload.get("tenant", "")),
        portal=payload["portal"],
        roles=(payload["roles"][0],),
        sid=UUID(payload["sid"]),
        jti=payload["jti"],
        amr=tuple(payload.get("amr", [])),
        issued_at=payload["iat"],
        expires_at=payload["exp"],
    )
