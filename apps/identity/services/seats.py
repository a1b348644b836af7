"""The seat limit: one count and one check for every way a person takes a seat in a tenant.

A seat is held by an active membership or by a live (pending, unexpired)
invitation; `plugs.seat_limit(tenant)` says how many there are (None:
unlimited; billing answers it). Inviting and signing up take a new seat;
accepting an invitation turns the seat that invitation holds into a
membership, so it needs room among the seats everyone else holds. When a
plan's limit is lowered below the seats already held, nobody takes a seat
(accepting included) until members are removed or invitations revoked or
expire.

Callers hold the tenant's row lock (`services.tenants.tenant_lock`) around the
check and the write that takes the seat, so two requests cannot both take the
last one.
"""

from __future__ import annotations

from apps.common.exceptions import Conflict
from apps.common.tenancy import TenantLike
from apps.identity import plugs
from apps.identity.models import Invitation, Membership, Tenant
from apps.identity.selectors.tenancy import invitation_live_pending_list


def seats_used(*, tenant: TenantLike, excluding: Invitation | None = None) -> int:
    """Active members plus live pending invitations of `tenant` (but `excluding`)."""
    members = Membership.objects.filter(tenant_id=tenant.id, status=Membership.Status.ACTIVE).count()
    pending = invitation_live_pending_list().filter(tenant_id=tenant.id)
    if excluding is not None:
        pending = pending.exclude(id=excluding.id)
    return members + pending.count()


def seat_require(*, tenant: Tenant, claiming: Invitation | None = None, public: bool = False) -> None:
    """409 unless a seat is free for a new person — or for the one `claiming` invitation holds.

    `tenant` is the locked row (the limit is the plan's for it). A `public`
    answer (to someone who is not a member) does not tell the limit.
    """
    limit = plugs.seat_limit(tenant)
    if limit is None or seats_used(tenant=tenant, excluding=claiming) < limit:
        return
    if public:
        raise Conflict("This organisation cannot take new members at the moment.")
    raise Conflict(
        "The plan's seat limit is reached (pending invitations count as seats): "
        "remove a member or revoke an invitation, or move to a larger plan.",
        seat_limit=limit,
    )
