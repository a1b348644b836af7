"""Reads about API keys: a tenant's list, and what authentication needs to know about one key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db.models import QuerySet
from django.utils import timezone

from apps.common.tenancy import TenantLike, tenant_context
from apps.identity.models import ApiKey, ApiKeyPrefix, Membership, Portal


def api_key_list(*, tenant: TenantLike) -> QuerySet[ApiKey]:
    """The tenant's keys, newest first (revoked ones too: the list is their record), creator joined in."""
    return ApiKey.objects.filter(tenant_id=tenant.id).select_related("created_by").order_by("-created_at", "-id")


@dataclass(frozen=True)
class ApiKeyStanding:
    """One key as authentication sees it, read from the database at `loaded_at` (epoch seconds).

    The key's own fields never change after creation, apart from `revoked_at`. `refusal` is
    empty when the key may act: not revoked, its tenant active, its creator an active user
    with an active membership (whose role is `creator_role`).
    """

    prefix: str
    key_id: UUID
    tenant_id: UUID
    tenant_slug: str
    role_code: str
    creator_id: UUID
    secret_hash: str
    expires_at: float | None
    creator_role: str
    portal: str
    last_ip: str | None
    loaded_at: float
    refusal: str = ""


def _epoch(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def api_key_standing(*, prefix: str, loaded_at: float) -> ApiKeyStanding | None:
    """The key with this prefix and its creator's standing, or None when there is no such key.

    The prefix finds the tenant in the global lookup; the key, the creator's membership and
    the tenant's default portal are then read as that tenant (row-level security).
    """
    lookup = ApiKeyPrefix.objects.select_related("tenant").filter(prefix=prefix).first()
    if lookup is None:
        return None
    tenant = lookup.tenant
    with tenant_context(tenant):
        key = ApiKey.objects.select_related("created_by").filter(id=lookup.api_key_id).first()
        if key is None:
            return None
        membership = (
            Membership.objects.filter(user_id=key.created_by_id, status=Membership.Status.ACTIVE)
            .values_list("role__code", flat=True)
            .first()
        )
    portal = (
        Portal.objects.filter(tenant_id=tenant.id, active=True)
        .order_by("-is_default", "created_at")
        .values_list("slug", flat=True)
        .first()
    )
    refusal = ""
    if key.revoked_at is not None:
        refusal = "revoked"
    elif not tenant.is_active:
        refusal = "tenant_inactive"
    elif not key.created_by.is_active:
        refusal = "creator_inactive"
    elif membership is None:
        refusal = "creator_not_member"
    return ApiKeyStanding(
        prefix=key.prefix,
        key_id=key.id,
        tenant_id=tenant.id,
        tenant_slug=tenant.slug,
        role_code=key.role_code,
        creator_id=key.created_by_id,
        secret_hash=key.secret_hash,
        expires_at=_epoch(key.expires_at),
        creator_role=membership or "",
        portal=portal or "",
        last_ip=key.last_used_ip,
        loaded_at=loaded_at,
        refusal=refusal,
    )


def api_key_status(key: ApiKey) -> str:
    """`active`, `expired` or `revoked`: what the API and the portal page show."""
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= timezone.now():
        return "expired"
    return "active"
