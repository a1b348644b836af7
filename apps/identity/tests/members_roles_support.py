"""Helpers shared by the members, roles and tenant API tests (not a test module itself)."""

from __future__ import annotations

from typing import Any

from apps.common.tenancy import tenant_context, unscoped
from apps.identity import rbac
from apps.identity.models import AuditEvent, Membership, Role

MEMBERS = "/api/v1/identity/members/"
ROLES = "/api/v1/identity/roles/"
TENANT = "/api/v1/identity/tenant/"
ME = "/api/v1/identity/auth/me/"
REFRESH = "/api/v1/identity/auth/refresh/"

# Identity may not import billing (import-linter layers): its codes are spelled out.
MANAGE_SUBSCRIPTION = "billing.manage_subscription"
VIEW_INVOICE = "billing.view_invoice"


def custom_role(tenant: Any, code: str, permissions: list[str], *, name: str | None = None) -> Role:
    with tenant_context(tenant):
        role = Role.objects.create(tenant=tenant, code=code, name=name or code.title(), permissions=permissions)
        rbac.bump_rbac_version()
    return role


def membership_of(user: Any, tenant: Any) -> Membership:
    with tenant_context(tenant):
        return Membership.objects.select_related("role").get(user=user)


def membership_exists(user: Any, tenant: Any) -> bool:
    with tenant_context(tenant):
        return Membership.objects.filter(user=user).exists()


def role_row(tenant: Any, code: str) -> Role | None:
    with unscoped():
        return Role.all_roles.filter(tenant=tenant, code=code).first()


def audit_events(tenant: Any, action: str) -> list[AuditEvent]:
    with tenant_context(tenant):
        return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def bearer(client: Any, tokens: dict[str, Any]) -> Any:
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    return client
