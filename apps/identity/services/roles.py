"""A tenant's custom roles: list (with the system roles), create, change, delete.

Rules (docs/api.md, "Tenant administration", "Roles"):

- System roles (`owner`, `admin`, `member`) cannot be changed or deleted (409),
  and a custom role cannot take their codes: that is 409 too — the code is
  reserved, taken by a role every tenant already has, the same answer as a
  code the tenant already uses.
- Permission codes must exist in the catalogue (400), and the actor must hold
  every code they grant (403), so a custom role is never a way up. On a change
  only the codes being added are checked: keeping what a role already grants
  grants nothing new, and an admin may still rename or trim a role an owner made.
- A role in use — by a membership or a live pending invitation — cannot be
  deleted (409). Finished invitations (accepted, revoked, expired) that still
  point at the role do not block it and are kept: their role becomes NULL and
  their `role_code` still names it.
- Every change bumps the RBAC version (on commit), so every process reloads
  role → permissions at its next request and the role's holders see the change
  at once, without new tokens.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, Q
from django.utils import timezone

from apps.common.exceptions import ApplicationError, Conflict, NotFound
from apps.common.tenancy import TenantLike
from apps.identity import plugs, rbac
from apps.identity.exceptions import FeatureNotInPlan
from apps.identity.models import SYSTEM_ROLE_CODES, Invitation, Membership, Permission, Role, Tenant, User
from apps.identity.permissions import MANAGE_ROLE
from apps.identity.services.audit import audit_record
from apps.identity.services.grants import actor_permissions, actor_require, require_held
from apps.identity.services.tenants import tenant_lock

ROLE_CODE_RE = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
ROLE_CODE_MAX = 50
ROLE_NAME_MAX = 100
PERMISSIONS_MAX = 200


# --------------------------------------------------------------------------- reads


def _role_get(*, tenant: TenantLike, code: str) -> Role:
    role = Role.objects.filter(Q(tenant__isnull=True) | Q(tenant_id=tenant.id)).filter(code=code).first()
    if role is None:
        raise NotFound("No such role.")
    return role


# --------------------------------------------------------------------------- checks


def _clean_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > ROLE_NAME_MAX:
        raise ApplicationError(
            "Invalid role name.", errors={"name": [f"Give a name of 1 to {ROLE_NAME_MAX} characters."]}
        )
    return cleaned


def _clean_permissions(codes: Iterable[str]) -> list[str]:
    wanted = sorted(set(codes))
    if len(wanted) > PERMISSIONS_MAX:
        raise ApplicationError("Too many permissions.", errors={"permissions": ["Too many permission codes."]})
    known = set(Permission.objects.filter(code__in=wanted).values_list("code", flat=True))
    unknown = [code for code in wanted if code not in known]
    if unknown:
        raise ApplicationError(
            "Unknown permission codes.",
            errors={"permissions": [f"Unknown permission code: {code}." for code in unknown]},
        )
    return wanted


def _require_custom_roles(tenant: Tenant) -> None:
    """Custom roles are a plan feature: creating or changing one needs it (deleting never does)."""
    if not plugs.has_feature(tenant, plugs.FEATURE_CUSTOM_ROLES):
        raise FeatureNotInPlan(
            "Your plan does not include custom roles; move to a plan that does.", feature=plugs.FEATURE_CUSTOM_ROLES
        )


def _require_manager(*, tenant: Tenant, actor: User) -> frozenset[str]:
    """The actor may manage roles: returns every code they hold (for the grant rule)."""
    mine = actor_require(tenant=tenant, actor=actor, code=MANAGE_ROLE)
    return actor_permissions(tenant=tenant, membership=mine)


# --------------------------------------------------------------------------- writes


@transaction.atomic
def role_create(
    *, tenant: Tenant, actor: User, code: str, name: str, permissions: Iterable[str], ip: str | None = None
) -> Role:
    """A new custom role of the tenant."""
    tenant = tenant_lock(tenant_id=tenant.id)
    held = _require_manager(tenant=tenant, actor=actor)
    _require_custom_roles(tenant)
    if not ROLE_CODE_RE.match(code) or len(code) > ROLE_CODE_MAX:
        raise ApplicationError(
            "Invalid role code.",
            errors={"code": [f"Use lower-case letters, digits, '-' and '_', at most {ROLE_CODE_MAX} characters."]},
        )
    if code in SYSTEM_ROLE_CODES:
        raise Conflict(f"The code {code!r} is reserved for a system role.", reason="reserved")
    clean_name = _clean_name(name)
    codes = _clean_permissions(permissions)
    require_held(held=held, codes=set(codes), what="grant")
    if Role.objects.filter(tenant_id=tenant.id, code=code).exists():
        raise Conflict(f"This tenant already has a role {code!r}.", reason="exists")
    try:
        with transaction.atomic():
            role = Role.objects.create(tenant=tenant, code=code, name=clean_name, permissions=codes)
    except IntegrityError as exc:  # a concurrent create outside the tenant lock (e.g. a command)
        raise Conflict(f"This tenant already has a role {code!r}.", reason="exists") from exc
    rbac.bump_rbac_version()
    audit_record(
        tenant=tenant,
        actor=actor,
        action="role.created",
        target=role,
        ip=ip,
        data={"code": code, "name": clean_name, "permissions": codes},
    )
    return role


@transaction.atomic
def role_update(
    *,
    tenant: Tenant,
    actor: User,
    code: str,
    name: str | None = None,
    permissions: Iterable[str] | None = None,
    ip: str | None = None,
) -> Role:
    """Rename a custom role and/or replace its permissions; holders see the change at their next request."""
    tenant = tenant_lock(tenant_id=tenant.id)
    held = _require_manager(tenant=tenant, actor=actor)
    _require_custom_roles(tenant)
    role = _role_get(tenant=tenant, code=code)
    if role.system:
        raise Conflict("System roles cannot be changed.", reason="system_role")
    changes: dict[str, Any] = {}
    if name is not None:
        clean_name = _clean_name(name)
        if clean_name != role.name:
            changes["name"] = {"from": role.name, "to": clean_name}
            role.name = clean_name
    if permissions is not None:
        codes = _clean_permissions(permissions)
        current = set(role.permissions or [])
        require_held(held=held, codes=set(codes) - current, what="grant")
        if codes != sorted(current):
            changes["permissions"] = {"added": sorted(set(codes) - current), "removed": sorted(current - set(codes))}
            role.permissions = codes
    if not changes:
        return role
    role.save(update_fields=["name", "permissions", "updated_at"])
    rbac.bump_rbac_version()
    audit_record(
        tenant=tenant,
        actor=actor,
        action="role.updated",
        target=role,
        ip=ip,
        data={"code": role.code, **changes},
    )
    return role


@transaction.atomic
def role_delete(*, tenant: Tenant, actor: User, code: str, ip: str | None = None) -> None:
    """Delete a custom role nobody holds and no live invitation offers."""
    tenant_lock(tenant_id=tenant.id)
    _require_manager(tenant=tenant, actor=actor)
    role = _role_get(tenant=tenant, code=code)
    if role.system:
        raise Conflict("System roles cannot be deleted.", reason="system_role")
    if Membership.objects.filter(role=role).exists():
        raise Conflict("Members hold this role; give them another role first.", reason="in_use")
    live = Q(status=Invitation.Status.PENDING, expires_at__gt=timezone.now())
    if Invitation.objects.filter(live, role=role).exists():
        raise Conflict("A pending invitation offers this role; revoke it first.", reason="in_use")
    role_id, permissions = role.id, list(role.permissions or [])
    try:
        with transaction.atomic():
            # Finished invitations stay on record: their role becomes NULL, their role_code remains.
            role.delete()
    except ProtectedError as exc:
        raise Conflict("This role is still referenced and cannot be deleted.", reason="in_use") from exc
    rbac.bump_rbac_version()
    audit_record(
        tenant=tenant,
        actor=actor,
        action="role.deleted",
        target=("identity.role", role_id),
        ip=ip,
        data={"code": code, "permissions": permissions},
    )
