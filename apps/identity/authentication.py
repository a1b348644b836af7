"""Bearer authentication for `/api/v1/`: everything from the verified token, nothing from the database.

The token gives user id, tenant, portal, role, session and `amr`; one cache
round trip says whether it was revoked and which RBAC version is current.
A missing or bad token is 401 with `WWW-Authenticate: Bearer`.
"""

from __future__ import annotations

import logging
from uuid import UUID

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request
from rest_framework_simplejwt.exceptions import TokenError

from apps.common import request_context
from apps.identity import revocation
from apps.identity.principal import Principal, principal_from_payload
from apps.identity.tokens import AtriumAccessToken

logger = logging.getLogger("atrium.auth")


class TokenUser:
    """`request.user` for bearer requests: the id, without loading the row."""

    is_authenticated = True
    is_anonymous = False
    is_active = True

    def __init__(self, user_id: UUID) -> None:
        self.id = self.pk = user_id

    def __str__(self) -> str:
        return str(self.id)


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
        live = revocation.principal_live(principal_from_payload(token.payload))
        if live is None:
            raise exceptions.AuthenticationFailed("This session has ended; sign in again.")
        principal = live
        request_context.bind(user=str(principal.user_id), tenant=principal.tenant.slug, portal=principal.portal)
        return TokenUser(principal.user_id), principal

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
