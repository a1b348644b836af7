"""Tenant administration of memberships: list, change a member's role, remove a member.

Who may grant or change what — only an owner grants `owner` or touches an
owner's membership, nobody assigns permissions they lack, the last owner stays
— is `services.grants`' (docs/api.md, "Tenant administration", "Members").
A changed or removed member's sessions in the tenant end at once: their access
tokens carry the old role (or a membership that is gone).

Every write takes the tenant's lock first (`services.tenants.tenant_lock`), so
concurrent admin changes of one tenant run one after the other: two owners
demoting each other cannot both succeed, and a role cannot be deleted while it
is being assigned.
"""

from __future__ import annotations

from uuid import UUID

from django.db import transaction
from django.db.models import ProtectedError

from apps.common.exceptions import ApplicationError, Conflict, NotFound
from apps.identity.models import Membership, Role, Tenant, User
from apps.identity.permissions import MANAGE_MEMBER
from apps.identity.plugs import domain_event
from apps.identity.services.audit import audit_record
from apps.identity.services.grants import (
    actor_require,
    is_owner,
    require_another_owner,
    require_may_change,
    require_may_grant,
)
from apps.identity.services.sessions import sessions_revoke_for_member
from apps.identity.services.tenants import tenant_lock

# --------------------------------------------------------------------------- shared checks


def _get_membership(membership_id: UUID) -> Membership:
    # The scoped manager: another tenant's membership id is simply not found.
    membership: Membership | None = Membership.objects.select_related("user", "role").filter(id=membership_id).first()
    if membership is None:
        raise NotFound("No such member.")
    return membership


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
    tenant_lock(tenant_id=tenant.id)
    mine = actor_require(tenant=tenant, actor=actor, code=MANAGE_MEMBER)
    target = _get_membership(membership_id)
    new_role = _role_by_code(role)
    require_may_change(mine=mine, target=target, doing="change the role of")
    require_may_grant(tenant=tenant, mine=mine, role=new_role, what="assign a role with")
    if new_role.id == target.role_id:
        return target
    if is_owner(target):
        require_another_owner(target, doing="demoted")
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
    domain_event(
        tenant=tenant,
        event="member.role_changed",
        data={"membership_id": str(target.id), "user_id": str(target.user_id), "from": previous, "to": new_role.code},
    )
    return target


@transaction.atomic
def membership_remove(*, tenant: Tenant, actor: User, membership_id: UUID, ip: str | None = None) -> None:
    """Remove a member from the tenant; their sessions in it end at once."""
    tenant_lock(tenant_id=tenant.id)
    mine = actor_require(tenant=tenant, actor=actor, code=MANAGE_MEMBER)
    target = _get_membership(membership_id)
    require_may_change(mine=mine, target=target, doing="remove")
    if is_owner(target):
        require_another_owner(target, doing="removed")
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
    domain_event(
        tenant=tenant,
        event="member.removed",
        data={"membership_id": str(target_id), "user_id": str(user_id), "role": role_code},
    )
