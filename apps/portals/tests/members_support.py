"""Helpers for the members and invitations page tests: their URLs, a member's role, a pending invitation."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.common.tenancy import tenant_context
from apps.identity.models import Invitation, Membership
from apps.identity.tests.factories import system_role


def members_url(portal) -> str:
    return f"/portal/{portal.slug}/members/"


def invitations_url(portal) -> str:
    return f"/portal/{portal.slug}/members/invitations/"


def role_url(portal, membership_id) -> str:
    return f"/portal/{portal.slug}/members/{membership_id}/role/"


def remove_url(portal, membership_id) -> str:
    return f"/portal/{portal.slug}/members/{membership_id}/remove/"


def revoke_url(portal, invitation_id) -> str:
    return f"/portal/{portal.slug}/members/invitations/{invitation_id}/revoke/"


def membership_of(user, tenant) -> Membership:
    with tenant_context(tenant):
        return Membership.objects.select_related("role").get(user=user)


def role_of(user, tenant) -> str:
    return membership_of(user, tenant).role.code


def invite(tenant, email: str, role: str = "member", inviter=None) -> Invitation:
    with tenant_context(tenant):
        return Invitation.objects.create(
            email=email, role=system_role(role), invited_by=inviter, expires_at=timezone.now() + timedelta(days=7)
        )
