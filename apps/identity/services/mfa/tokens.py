"""The `mfa_token`: the single-use, opaque token a sign-in answers with when a second factor is owed.

Only its SHA-256 is a cache key (Redis in production), holding user, tenant,
portal, role, purpose and expiry; it is deleted when answered (the delete is
the single-use check) and ended by a "revoke the user's tokens" mark.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Final, Literal
from uuid import UUID

from django.conf import settings
from django.core.cache import cache

from apps.identity import revocation
from apps.identity.exceptions import TokenInvalid
from apps.identity.models import Membership, Portal, User
from apps.identity.services.mfa import clock
from apps.identity.throttling import shared_store

Purpose = Literal["verify", "enrol"]

TOKEN_PREFIX: Final = "mfa_"  # noqa: S105 - a prefix, not a credential
_TOKEN_KEY: Final = "auth:mfa:token"  # noqa: S105 - a cache key prefix
# No real token is longer; anything longer is not looked up at all.
_MAX_TOKEN_LENGTH: Final = 128
# The longest lifetime an mfa_token may have, whatever the setting says.
_MAX_TOKEN_SECONDS: Final = 600


@dataclass(frozen=True)
class MfaChallenge:
    mfa_token: str
    setup_required: bool

    def as_response(self) -> dict[str, str | bool]:
        flag = "mfa_setup_required" if self.setup_required else "mfa_required"
        return {flag: True, "mfa_token": self.mfa_token}


@dataclass(frozen=True)
class MfaTokenData:
    """What an `mfa_token` stands for. `digest` (the SHA-256 of the token) names it in the cache."""

    digest: str
    user_id: UUID
    tenant_id: UUID
    tenant_slug: str
    portal: str
    role: str
    purpose: Purpose
    issued_at: int
    expires_at: int
    # `issued_at` to the microsecond: a revocation in the same second must know which came first.
    issued: float
    # How the user proved who they are before the second factor: the session's first `amr` entry.
    first_factor: str = "pwd"


def _token_seconds() -> int:
    return min(int(settings.MFA_TOKEN_LIFETIME.total_seconds()), _MAX_TOKEN_SECONDS)


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def is_mfa_token(raw: str) -> bool:
    """Whether `raw` has the shape of an mfa_token (never of a JWT: it has no dots)."""
    return raw.startswith(TOKEN_PREFIX) and "." not in raw


# The first factors a token may carry: a password, or a linked social identity (services.social).
FIRST_FACTORS: Final = ("pwd", "social")


def mfa_token_issue(
    *, user: User, membership: Membership, portal: Portal, purpose: Purpose, first_factor: str = "pwd"
) -> str:
    """A new single-use mfa_token for `user` signing in to `portal`; only its hash is stored."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    digest = _digest(raw)
    issued = clock.now()
    now = int(issued)
    lifetime = _token_seconds()
    data = {
        "user_id": str(user.id),
        "tenant_id": str(portal.tenant_id),
        "tenant_slug": portal.tenant.slug,
        "portal": portal.slug,
        "role": membership.role.code,
        "purpose": purpose,
        "issued_at": now,
        "issued": issued,
        "expires_at": now + lifetime,
        "first_factor": first_factor if first_factor in FIRST_FACTORS else "pwd",
    }
    with shared_store():
        cache.set(f"{_TOKEN_KEY}:{digest}", data, timeout=lifetime)
    return raw


def _first_factor(value: Any) -> str:
    return value if isinstance(value, str) and value in FIRST_FACTORS else "pwd"


def mfa_token_get(*, raw: str, purpose: Purpose) -> MfaTokenData:
    """The live token `raw` for `purpose`, or TokenInvalid (unknown, expired, used, revoked, other purpose)."""
    invalid = TokenInvalid("The MFA token is invalid or has expired; sign in again.")
    if not isinstance(raw, str) or not is_mfa_token(raw) or len(raw) > _MAX_TOKEN_LENGTH:
        raise invalid
    digest = _digest(raw)
    with shared_store():
        stored: Any = cache.get(f"{_TOKEN_KEY}:{digest}")
    if not isinstance(stored, dict) or stored.get("purpose") != purpose:
        raise invalid
    try:
        token = MfaTokenData(
            digest=digest,
            user_id=UUID(str(stored["user_id"])),
            tenant_id=UUID(str(stored["tenant_id"])),
            tenant_slug=str(stored["tenant_slug"]),
            portal=str(stored["portal"]),
            role=str(stored["role"]),
            purpose=purpose,
            issued_at=int(stored["issued_at"]),
            expires_at=int(stored["expires_at"]),
            # Tokens issued before this field existed carry whole seconds only.
            issued=float(stored["issued"] if "issued" in stored else stored["issued_at"]),
            # Tokens issued before this field existed were all answers to a password.
            first_factor=_first_factor(stored.get("first_factor")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise invalid from exc
    if token.expires_at <= clock.now():
        raise invalid
    # A "revoke everything of this user/tenant" mark (password reset, suspension) ends pending tokens too.
    # Compared like a session's start (an mfa_token has no session or jti): one issued up to the mark is ended.
    with shared_store():
        revoked = revocation.session_predates_revocation(
            user_id=token.user_id, tenant_id=token.tenant_id, started=token.issued
        )
    if revoked:
        raise invalid
    return token


def token_burn(token: MfaTokenData) -> bool:
    """Delete the token; True only for the one caller whose delete removed it (single use)."""
    with shared_store():
        return bool(cache.delete(f"{_TOKEN_KEY}:{token.digest}"))
