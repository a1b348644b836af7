"""Reads about accounts: users, the signed-in caller, second factors, memberships across tenants."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db import connection
from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.exceptions import AuthenticationFailed

from apps.common.prepared import PreparedValues
from apps.common.tenancy import unscoped
from apps.identity.models import Membership, Portal, Tenant, User
from apps.identity.principal import Principal


def user_get_active(*, user_id: UUID | str) -> User | None:
    """The active account with this id, or None: unknown and deactivated look alike."""
    return User.objects.filter(id=user_id, is_active=True).first()


def user_get_by_email(*, email: str) -> User | None:
    return User.objects.by_email(email).first()


@dataclass(frozen=True)
class Me:
    """What `auth/me/` shows of the caller's account, tenant and portal (plain values, no model rows)."""

    user_id: UUID
    email: str
    name: str
    email_verified: bool
    mfa_enabled: bool
    tenant_id: UUID
    tenant_slug: str
    tenant_name: str
    portal_slug: str
    portal_name: str


def _me_query(user_id: UUID, tenant_id: UUID, portal: str) -> QuerySet[Any]:
    portal_row = Portal.objects.filter(slug=portal, tenant_id=tenant_id)
    tenant = Tenant.objects.filter(id=tenant_id)
    return (
        User.objects.filter(id=user_id, is_active=True)
        .annotate(
            mfa=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)),
            portal_name=Subquery(portal_row.values("name")[:1]),
            tenant_slug=Subquery(tenant.values("slug")[:1]),
            tenant_name=Subquery(tenant.values("name")[:1]),
        )
        .values("id", "email", "name", "email_verified", "mfa", "portal_name", "tenant_slug", "tenant_name")[:1]
    )


# Compiled once per process: building and compiling this queryset cost ten times what running it does.
_ME = PreparedValues(_me_query)


def me_get(*, principal: Principal) -> Me:
    """The caller's account, tenant and portal for `auth/me/`, and whether the account has MFA: one query.

    The account row with the rest as subqueries, read as plain values (no model rows are built),
    under the caller's tenant setting and row-level security; the portal is matched on the
    token's tenant too.
    """
    row = _ME.row(user_id=principal.user_id, tenant_id=principal.tenant_id, portal=principal.portal)
    if row is None or row["portal_name"] is None or row["tenant_slug"] is None:
        # A validly signed token naming no such user or portal (the hot path does not look them up).
        raise AuthenticationFailed("This token names no account or portal that exists; sign in again.")
    return Me(
        user_id=row["id"],
        email=row["email"],
        name=row["name"],
        email_verified=bool(row["email_verified"]),
        mfa_enabled=bool(row["mfa"]),
        tenant_id=principal.tenant_id,
        tenant_slug=row["tenant_slug"],
        tenant_name=row["tenant_name"],
        portal_slug=principal.portal,
        portal_name=row["portal_name"],
    )


def user_mfa_enabled(*, user: User) -> bool:
    """Whether the user has a confirmed second factor (a TOTP device; backup codes only come with one)."""
    return bool(TOTPDevice.objects.filter(user=user, confirmed=True).exists())


@dataclass(frozen=True)
class UserMembership:
    tenant_id: UUID
    role_code: str
    status: str


# The one fact about a user across tenants that the request path needs. The web and
# worker database role cannot lift row-level security (ADR 0008): on PostgreSQL a
# SECURITY DEFINER function (migration identity 0006) answers it for one user id, and nothing else.
_USER_MEMBERSHIPS_SQL = "SELECT tenant_id, role_code, status FROM identity_user_memberships(%s)"


def user_memberships(*, user: User) -> list[UserMembership]:
    """The user's own memberships in every tenant not offboarded, oldest first (any status)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_USER_MEMBERSHIPS_SQL, [user.pk])
            rows = cursor.fetchall()
    else:
        # SQLite has no row-level security to lift: only the ORM wall, stepped over for this one user.
        with unscoped():
            rows = list(
                Membership.all_tenants.filter(user=user)
                .exclude(tenant__status=Tenant.Status.OFFBOARDED)
                .order_by("created_at", "id")
                .values_list("tenant_id", "role__code", "status")
            )
    return [UserMembership(tenant_id=t, role_code=str(r), status=str(st)) for t, r, st in rows]


def user_audit_tenants(*, user: User) -> list[Tenant]:
    """The tenants whose audit trail shows `user`'s account events: active memberships, tenant not offboarded."""
    ids = [m.tenant_id for m in user_memberships(user=user) if m.status == Membership.Status.ACTIVE]
    return list(Tenant.objects.filter(id__in=ids).order_by("id"))
