"""Bearer authentication for `/api/v1/`: everything from the verified token, nothing from the database.

The token gives user id, tenant, portal, role, session and `amr`; one cache
round trip says whether it was revoked and which RBAC version is current.
A missing or bad token is 401 with `WWW-Authenticate: Bearer`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request
from rest_framework_simplejwt.exceptions import TokenError

from apps.common import request_context
from apps.identity import revocation
from apps.identity.throttling import shared_store
from apps.identity.tokens import AtriumAccessToken

logger = logging.getLogger("atrium.auth")


@dataclass(frozen=True)
class TenantRef:
    """The tenant of a request as the token names it: enough for the tenant context, no query."""

    id: UUID
    slug: str


@dataclass(frozen=True)
class Principal:
    """Who is calling, from a verified access token (`request.auth`)."""

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


class TokenUser:
    """`request.user` for bearer requests: the id, without loading the row."""

    is_authenticated = True
    is_anonymous = False
    is_active = True

    def __init__(self, user_id: UUID) -> None:
        self.id = self.pk = user_id

    def __str__(self) -> str:
        return str(self.id)


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


def bearer_credential(request: Request) -> str | None:
    """The token of `Authorization: Bearer <token>`; None without a bearer header; 401 when malformed."""
    header = get_authorization_header(request).split()
    if not header or header[0].lower() != b"bearer":
        return None
    if len(header) != 2:
        raise exceptions.AuthenticationFailed("Send the header as `Authorization: Bearer <token>`.")
    try:
        return header[1].decode("ascii")
    except UnicodeDecodeError as exc:
        raise exceptions.AuthenticationFailed("The token is invalid or expired.") from exc


class BearerAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[TokenUser, Principal] | None:
        raw = bearer_credential(request)
        if raw is None:
            return None
        return self.authenticate_access_token(raw)

    def authenticate_access_token(self, raw: str) -> tuple[TokenUser, Principal]:
        try:
            token = AtriumAccessToken(raw)
        except TokenError as exc:
            raise exceptions.AuthenticationFailed("The access token is invalid or expired.") from exc
        principal = principal_from_payload(token.payload)
        # Revocation cannot be checked without the shared cache: refuse (503) rather than trust.
        with shared_store("The service cannot check sessions right now; try again in a moment."):
            result = revocation.check(
                sid=str(principal.sid),
                jti=principal.jti,
                user_id=str(principal.user_id),
                tenant_id=str(principal.tenant_id),
                issued_at=principal.issued_at,
            )
        if result.revoked:
            raise exceptions.AuthenticationFailed("This session has ended; sign in again.")
        principal = Principal(**{**principal.__dict__, "rbac_version": result.rbac_version})
        request_context.bind(user=str(principal.user_id), tenant=principal.tenant.slug, portal=principal.portal)
        return TokenUser(principal.user_id), principal

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
