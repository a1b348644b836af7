"""`tenant/`: any member reads their own tenant; nothing else."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.identity.tests.factories import PortalFactory
from apps.identity.tests.members_roles_support import TENANT, custom_role

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded")]


@pytest.mark.parametrize("role", ["owner", "admin", "member"])
def test_any_member_reads_their_tenant(api_client, member, portal, tenant, role):
    tenant.plan_code = "pro"
    tenant.save()
    response = api_client(member(role), portal).get(TENANT)
    assert response.status_code == 200, response.content
    assert response.json() == {
        "id": str(tenant.id),
        "slug": "acme-test",
        "name": "Acme Test",
        "status": "active",
        "plan": "pro",
    }


def test_a_custom_role_without_any_permission_reads_the_tenant(api_client, member, portal, tenant):
    from apps.common.tenancy import tenant_context
    from apps.identity.models import Membership, Role

    custom_role(tenant, "nobody", [])
    portal.admitted_roles = [*portal.admitted_roles, "nobody"]
    portal.save()
    user = member("member")
    with tenant_context(tenant):
        Membership.objects.filter(user=user).update(role=Role.objects.get(code="nobody"))
    assert api_client(user, portal).get(TENANT).json()["slug"] == "acme-test"


def test_the_token_decides_the_tenant(api_client, member, portal, other_tenant):
    """A user of two tenants sees the tenant of the token they present, whatever the query says."""
    other_portal = PortalFactory(tenant=other_tenant, slug="globex-test", is_default=True)
    user = member("member")
    member("member", user=user, of=other_tenant)
    assert api_client(user, portal).get(TENANT, {"tenant_id": str(other_tenant.id)}).json()["slug"] == "acme-test"
    assert api_client(user, other_portal).get(TENANT).json()["slug"] == "globex-test"


def test_tenant_needs_a_token_and_is_read_only(api_client, member, portal):
    response = APIClient().get(TENANT)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    client = api_client(member("owner"), portal)
    assert client.patch(TENANT, {"name": "Renamed"}, format="json").status_code == 405
    assert client.delete(TENANT).status_code == 405
