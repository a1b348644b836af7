"""Reads about a tenant's administration: its row, the acting user, members, roles, invitations."""

from __future__ import annotations

from uuid import UUID

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from apps.common.exceptions import NotFound, PermissionDenied
from apps.common.tenancy import TenantLike
from apps.identity.models import Invitation, Membership, Role, Tenant, User
from apps.identity.selectors.accounts import user_get_active


def tenant_get(*, tenant_id: UUID | str) -> Tenant:
    """The caller's tenant row (global table; the id comes from the verified token)."""
    tenant = Tenant.objects.filter(id=tenant_id).first()
    if tenant is None:
        raise NotFound("No such tenant.")
    return tenant


def actor_get(*, user_id: UUID | str) -> User:
    """The calling user's row, for services that record who acted; 403 once deactivated."""
    user = user_get_active(user_id=user_id)
    if user is None:
        raise PermissionDenied("This account is no longer active.")
    return user


def membership_list(*, tenant: TenantLike) -> QuerySet[Membership]:
    """The tenant's memberships, oldest first, with each user in the same query and the roles in one more.

    The roles come apart (a handful of rows for any page): joined in, the roles table's
    row-level security policy (system roles OR the tenant's) leaves the planner unable
    to estimate the join, and it sorted every member of the tenant to return one page.
    """
    return (
        Membership.objects.filter(tenant_id=tenant.id)
        .select_related("user")
        .prefetch_related("role")
        .order_by("created_at", "id")
    )


def role_list(*, tenant: TenantLike) -> QuerySet[Role]:
    """System roles, then the tenant's custom roles, each by code."""
    return (
        Role.objects.filter(Q(tenant__isnull=True) | Q(tenant_id=tenant.id))
        .annotate(_custom=Case(When(tenant__isnull=True, then=Value(0)), default=Value(1), output_field=IntegerField()))
        .order_by("_custom", "code")
    )


def role_name_get(*, code: str) -> str:
    """The display name of a role of the current tenant (system or custom); the code when it is gone."""
    name = Role.objects.filter(code=code).values_list("name", flat=True).first()
    return name or code


def invitation_list(*, tenant: TenantLike) -> QuerySet[Invitation]:
    """The tenant's open invitations (pending, live or expired), newest first; role and inviter joined."""
    return (
        Invitation.objects.filter(tenant_id=tenant.id, status=Invitation.Status.PENDING)
        .select_related("role", "invited_by")
        .order_by("-created_at", "-id")
    )


def invitation_live_pending_list() -> QuerySet[Invitation]:
    """The current tenant's live invitations: pending and not expired (each holds a seat)."""
    return Invitation.objects.filter(status=Invitation.Status.PENDING, expires_at__gt=timezone.now())


def invitation_display_status(invitation: Invitation) -> str:
    """`pending`, or `expired` for a pending invitation past its time."""
    if invitation.status == Invitation.Status.PENDING and invitation.expires_at <= timezone.now():
        return "expired"
    return str(invitation.status)
