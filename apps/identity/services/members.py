"""Tenant administration of memberships: list, change a member's role, remove a member.

Rules (docs/api.md, "Tenant administration", "Members"):

- Only an owner grants `owner` or touches an owner's membership (403).
- A tenant keeps at least one active owner: demoting or removing the last one is 409.
- Nobody assigns a role whose permissions they do not all hold themselves (403):
  otherwise an admin could hand themselves a custom role carrying, say,
  `billing.manage_subscription` that an owner created.
- A changed or removed member's sessions in the tenant end at once: their
  access tokens carry the old role (or a membership that is gone).

Every write takes the tenant row's lock first (`FOR NO KEY UPDATE`, which does
not block inserts referencing the tenant), so concurrent admin changes of one
tenant run one after the other: two owners demoting each other cannot both
succeed, and a role cannot be deleted while it is being assigned. The actor's
own membership is read under that lock, from the database, not from the token.
"""

from __future__ import annotations

from uuid import UUID

from django.db import transaction
from django.db.models import ProtectedError, QuerySet

from apps.common.exceptions import ApplicationError, Conflict, NotFound, PermissionDenied
from apps.common.tenancy import TenantLike
from apps.identity import rbac
from apps.identity.models import Membership, Role, Tenant, User
from apps.identity.permissions import MANAGE_MEMBER
from apps.identity.services.audit import audit_record
from apps.identity.services.auth import sessions_revoke_for_member

OWNER = "owner"


# --------------------------------------------------------------------------- reads


def tenant_get(*, tenant_id: UUID) -> Tenant:
    """The caller's tenant row (global table; the id comes from the verified token)."""
    tenant = Tenant.objects.filter(id=tenant_id).first()
    if tenant is None:
        raise NotFound("No such tenant.")
    return tenant


def actor_get(*, user_id: UUID) -> User:
    """The calling user's row, for services that record who acted."""
    user = User.objects.filter(id=user_id, is_active=True).first()
    if user is None:
        raise PermissionDenied("This account is no longer active.")
    return user


def membership_list(*, tenant: TenantLike) -> QuerySet[Membership]:
    """The tenant's memberships, oldest first, with user and role in the same query."""
    return Membership.objects.filter(tenant_id=tenant.id).select_related("user", "role").order_by("created_at", "id")


# --------------------------------------------------------------------------- shared checks


def tenant_lock(*, tenant: TenantLike) -> None:
    """Serialise this tenant's administrative writes until the transaction ends."""
    locked = Tenant.objects.select_for_update(no_key=True).filter(id=tenant.id).values_list("id", flat=True)
    if not list(locked):
        raise NotFound("No such tenant.")


def actor_membership(*, actor: User) -> Membership:
    """The actor's active membership of the current tenant, with its role; 403 without one."""
    membership: Membership | None = (
        Membership.objects.select_related("role").filter(user_id=actor.id, status=Membership.Status.ACTIVE).first()
    )
    if membership is None:
        raise PermissionDenied("You are not an active member of this tenant.")
    return membership


def actor_permissions(*, tenant: TenantLike, membership: Membership) -> frozenset[str]:
    """Every permission code the actor's role grants in the tenant."""
    return rbac.role_permissions(tenant_id=tenant.id, role_code=membership.role.code)


def require_held(*, held: frozenset[str], codes: set[str] | frozenset[str], what: str) -> None:
    """403 unless the actor holds every code in `codes` (nobody grants what they lack)."""
    missing = sorted(set(codes) - held)
    if missing:
        raise PermissionDenied(
            f"You cannot {what} permissions you do not hold yourself: {', '.join(missing)}.",
            missing_permissions=missing,
        )


def _get_membership(membership_id: UUID) -> Membership:
    # The scoped manager: another tenant's membership id is simply not found.
    membership: Membership | None = Membership.objects.select_related("user", "role").filter(id=membership_id).first()
    if membership is None:
        raise NotFound("No such member.")
    return membership


def _is_owner(membership: Membership) -> bool:
    return membership.role.system and membership.role.code == OWNER


def _require_another_owner(target: Membership, *, doing: str) -> None:
    others = (
        Membership.objects.filter(role__tenant__isnull=True, role__code=OWNER, status=Membership.Status.ACTIVE)
        .exclude(id=target.id)
        .exists()
    )
    if not others:
        raise Conflict(f"The last owner cannot be {doing}; make someone else an owner first.")


def _role_by_code(code: str) -> Role:
    # System roles plus the current tenant's custom roles (custom codes never reuse system codes).
    role = Role.objects.filter(code=code).first()
    if role is None:
        raise ApplicationError("Unknown role.", errors={"role": [f"There is no role {code!r} in this tenant."]})
    return role


# --------------------------------------------------------------------------- writes


@transaction.atomic
def membership_change_role(
    *, tenant: Tenant, actor: User, membership_id: UUID, role: str, ip: str | None = None
) -> Membership:
    """Give a member another role; their sessions in the tenant end at once (the token holds the role)."""
    tenant_lock(tenant=tenant)
    mine = actor_membership(actor=actor)
    rbac.require_permission(tenant=tenant, actor_role=mine.role.code, code=MANAGE_MEMBER)
    target = _get_membership(membership_id)
    new_role = _role_by_code(role)
    actor_is_owner = _is_owner(mine)
    if _is_owner(target) and not actor_is_owner:
        raise PermissionDenied("Only an owner can change an owner's role.")
    if new_role.system and new_role.code == OWNER and not actor_is_owner:
        raise PermissionDenied("Only an owner can make someone an owner.")
    require_held(
        held=actor_permissions(tenant=tenant, membership=mine),
        codes=rbac.role_permissions(tenant_id=tenant.id, role_code=new_role.code),
        what="assign a role with",
    )
    if new_role.id == target.role_id:
        return target
    if _is_owner(target):
        _require_another_owner(target, doing="demoted")
    previous = target.role.code
    target.role = new_role
    target.save(update_fields=["role", "updated_at"])
    sessions_revoke_for_member(tenant=tenant, user_id=target.user_id, reason="role_changed")
    audit_record(
        tenant=tenant,
        actor=actor,
        action="member.role_changed",
        target=target,
        ip=ip,
        data={"user_id": str(target.user_id), "from": previous, "to": new_role.code},
    )
    return target


@transaction.atomic
def membership_remove(*, tenant: Tenant, actor: User, membership_id: UUID, ip: str | None = None) -> None:
    """Remove a member from the tenant; their sessions in it end at once."""
    tenant_lock(tenant=tenant)
    mine = actor_membership(actor=actor)
    rbac.require_permission(tenant=tenant, actor_role=mine.role.code, code=MANAGE_MEMBER)
    target = _get_membership(membership_id)
    if _is_owner(target):
        if not _is_owner(mine):
            raise PermissionDenied("Only an owner can remove an owner.")
        _require_another_owner(target, doing="removed")
    user_id, role_code, target_id = target.user_id, target.role.code, target.id
    try:
        with transaction.atomic():
            target.delete()
    except ProtectedError as exc:
        raise Conflict("This member is still referenced and cannot be removed.") from exc
    sessions_revoke_for_member(tenant=tenant, user_id=user_id, reason="member_removed")
    audit_record(
        tenant=tenant,
        actor=actor,
        action="member.removed",
        target=("identity.membership", target_id),
        ip=ip,
        data={"user_id": str(user_id), "role": role_code},
    )
