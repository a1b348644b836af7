"""Who may grant what in a tenant: the rules every administrative write asks first.

- The actor's standing is read from the database, under the tenant's lock
  (`services.tenants.tenant_lock`), never from the token: a role changed a
  moment ago counts at once.
- Only an owner grants `owner` — by changing a member's role or by inviting —
  and only an owner changes or removes an owner's membership (403).
- Nobody grants permissions they do not hold themselves (403): otherwise an
  admin could hand someone (or themselves) a custom role carrying, say,
  `billing.manage_subscription` that an owner created.
- A tenant keeps at least one active owner: demoting or removing the last one
  is 409.
- Acting through an API key, the actor's standing is the key's role (never more
  than the creator's: the key's authentication checks that on every request).

Members, roles and invitations call these; none writes its own copy.
"""

from __future__ import annotations

import copy

from apps.common.exceptions import Conflict, PermissionDenied
from apps.common.tenancy import TenantLike
from apps.identity import rbac
from apps.identity.acting import acting_key_of
from apps.identity.models import Membership, Role, User

OWNER = "owner"


def actor_membership(*, actor: User) -> Membership:
    """The actor's active membership of the current tenant, with its role; 403 without one.

    Acting through an API key (`apps.identity.acting`), the standing is the key's role on the
    creator's membership: a key does what its role allows, never what its creator could.
    """
    membership: Membership | None = (
        Membership.objects.select_related("role").filter(user_id=actor.id, status=Membership.Status.ACTIVE).first()
    )
    if membership is None:
        raise PermissionDenied("You are not an active member of this tenant.")
    key = acting_key_of(actor.id)
    if key is not None:
        role = Role.objects.filter(code=key.role).first()
        if role is None:
            raise PermissionDenied("This API key's role no longer exists.")
        membership = copy.copy(membership)  # the row as loaded, with the key's role: never saved
        membership.role = role
    return membership


def actor_require(*, tenant: TenantLike, actor: User, code: str) -> Membership:
    """The actor's membership, read from the database, if its role grants `code`; else 403."""
    mine = actor_membership(actor=actor)
    rbac.require_permission(tenant=tenant, actor_role=mine.role.code, code=code)
    return mine


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


def is_owner_role(role: Role) -> bool:
    return role.system and role.code == OWNER


def is_owner(membership: Membership) -> bool:
    return is_owner_role(membership.role)


def require_may_grant(*, tenant: TenantLike, mine: Membership, role: Role, what: str) -> None:
    """403 unless the actor (`mine`) may give someone `role`: owner only from an owner, nothing they lack."""
    if is_owner_role(role) and not is_owner(mine):
        raise PermissionDenied("Only an owner can make someone an owner.")
    require_held(
        held=actor_permissions(tenant=tenant, membership=mine),
        codes=rbac.role_permissions(tenant_id=tenant.id, role_code=role.code),
        what=what,
    )


def require_may_change(*, mine: Membership, target: Membership, doing: str) -> None:
    """403 unless the actor may change or remove `target`: an owner's membership is an owner's to touch."""
    if is_owner(target) and not is_owner(mine):
        raise PermissionDenied(f"Only an owner can {doing} an owner.")


def require_another_owner(target: Membership, *, doing: str) -> None:
    """409 if `target` is the tenant's last active owner."""
    others = (
        Membership.objects.filter(role__tenant__isnull=True, role__code=OWNER, status=Membership.Status.ACTIVE)
        .exclude(id=target.id)
        .exists()
    )
    if not others:
        raise Conflict(f"The last owner cannot be {doing}; make someone else an owner first.")
