"""A tenant's API keys: create (the key shown once), revoke, and record a key's use.

Who may create a key, and with which role, is the rule for granting a role
(`services.grants.require_may_grant`): the actor needs `integrations.manage_api_key`,
only an owner gives `owner`, and nobody gives a key permissions they do not hold.
Revocation marks the key in the shared cache, so it stops at its next request on
every server (`revocation.revoke_api_key`). docs/adr/0015-api-keys-in-identity.md.

A key's use is recorded without a write per request: authentication calls
`api_key_record_use` only when the key is used from another address than the last
one (audited as `api_key.used_from_new_ip`), or for the first use in a minute
(`last_used_at`; the minute is kept in the shared cache).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from apps.common.exceptions import ApplicationError, NotFound
from apps.common.tenancy import TenantLike, tenant_context
from apps.identity import plugs, revocation
from apps.identity.api_key_format import key_digest, new_key
from apps.identity.exceptions import FeatureNotInPlan
from apps.identity.models import ApiKey, ApiKeyPrefix, Role, Tenant, User
from apps.identity.permissions import MANAGE_API_KEY
from apps.identity.services.audit import audit_record
from apps.identity.services.grants import actor_require, require_may_grant

NAME_MAX = 100


def _clean_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > NAME_MAX:
        raise ApplicationError("Invalid key name.", errors={"name": [f"Give a name of 1 to {NAME_MAX} characters."]})
    return cleaned


def _role_by_code(code: str) -> Role:
    # System roles plus the current tenant's custom roles.
    role = Role.objects.filter(code=code).first()
    if role is None:
        raise ApplicationError("Unknown role.", errors={"role": [f"There is no role {code!r} in this tenant."]})
    return role


@transaction.atomic
def api_key_create(
    *,
    tenant: Tenant,
    actor: User,
    name: str,
    role: str,
    expires_at: datetime | None = None,
    ip: str | None = None,
) -> tuple[ApiKey, str]:
    """A new key acting with `role`; returns the row and the full key, which is never available again."""
    mine = actor_require(tenant=tenant, actor=actor, code=MANAGE_API_KEY)
    if not plugs.has_feature(tenant, plugs.FEATURE_API_KEYS):
        raise FeatureNotInPlan(
            "Your plan does not include API keys; move to a plan that does.", feature=plugs.FEATURE_API_KEYS
        )
    clean_name = _clean_name(name)
    target = _role_by_code(role)
    require_may_grant(tenant=tenant, mine=mine, role=target, what="give an API key")
    if expires_at is not None and expires_at <= timezone.now():
        raise ApplicationError("The expiry is in the past.", errors={"expires_at": ["Give a time in the future."]})
    prefix, full_key = new_key()
    key = ApiKey.objects.create(
        tenant=tenant,
        name=clean_name,
        role_code=target.code,
        created_by=actor,
        prefix=prefix,
        secret_hash=key_digest(full_key),
        expires_at=expires_at,
    )
    ApiKeyPrefix.objects.create(prefix=prefix, tenant=tenant, api_key_id=key.id)
    audit_record(
        tenant=tenant,
        actor=actor,
        action="api_key.created",
        target=key,
        ip=ip,
        data={"name": clean_name, "role": target.code, "prefix": prefix, "expires_at": expires_at},
    )
    return key, full_key


@transaction.atomic
def api_key_revoke(*, tenant: Tenant, actor: User, key_id: UUID, ip: str | None = None) -> ApiKey:
    """Revoke a key of the tenant (another tenant's id is 404); revoking a revoked key changes nothing."""
    actor_require(tenant=tenant, actor=actor, code=MANAGE_API_KEY)
    key: ApiKey | None = ApiKey.objects.filter(id=key_id).first()
    if key is None:
        raise NotFound("No such API key.")
    if key.revoked_at is not None:
        return key
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at", "updated_at"])
    revocation.revoke_api_key(key.prefix)
    audit_record(
        tenant=tenant,
        actor=actor,
        action="api_key.revoked",
        target=key,
        ip=ip,
        data={"name": key.name, "role": key.role_code, "prefix": key.prefix},
    )
    return key


def api_key_record_use(
    *, tenant: TenantLike, key_id: UUID, creator_id: UUID, ip: str | None, new_ip: bool, touch: bool
) -> bool:
    """Record a use: `last_used_at` when `touch`, the address when `new_ip`; True when the address changed.

    The address is replaced only where it differs (a conditional UPDATE), so of several
    servers that notice the same new address one writes it and one audit event is recorded.
    """
    now = timezone.now()
    with tenant_context(tenant):
        keys = ApiKey.objects.filter(id=key_id)
        if new_ip and ip:
            prefix, previous = keys.values_list("prefix", "last_used_ip").first() or ("", None)
            if keys.exclude(last_used_ip=ip).update(last_used_ip=ip, last_used_at=now):
                tenant_row = Tenant.objects.get(id=tenant.id)
                creator = User.objects.filter(id=creator_id).first()
                audit_record(
                    tenant=tenant_row,
                    actor=creator,
                    action="api_key.used_from_new_ip",
                    target=("identity.apikey", key_id),
                    ip=ip,
                    data={"prefix": prefix, "previous_ip": previous},
                )
                return True
        if touch:
            keys.update(last_used_at=now)
    return False
