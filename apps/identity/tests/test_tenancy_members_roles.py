"""Tenant walls of `tenant/`, `members/` and `roles/`: tenant A's token never reaches tenant B's rows.

Every endpoint: B's objects are absent from A's lists, and reading, changing or
deleting them with A's token is 404 (existence is not revealed, not even as a
403), with B's rows unchanged and nothing written to B's audit trail.
"""

from __future__ import annotations

import pytest

from apps.common.tenancy import tenant_context
from apps.identity.models import AuditEvent
from apps.identity.tests.factories import PortalFactory
from apps.identity.tests.members_roles_support import (
    MEMBERS,
    ROLES,
    TENANT,
    custom_role,
    membership_exists,
    membership_of,
    role_row,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded", "pro_plan")]


@pytest.fixture
def b_side(member, other_tenant):
    """Tenant B with an owner, a member and a custom role."""
    PortalFactory(tenant=other_tenant, slug="globex-test", is_default=True)
    owner = member("owner", of=other_tenant)
    plain = member("member", of=other_tenant)
    role = custom_role(other_tenant, "b-only", ["identity.view_member"], name="B only")
    return {"owner": owner, "member": plain, "role": role}


@pytest.fixture
def a_owner(api_client, member, portal):
    """A client holding a token of tenant A's owner: the most an A token can do."""
    return api_client(member("owner"), portal)


def _b_audit_count(other_tenant) -> int:
    with tenant_context(other_tenant):
        return AuditEvent.objects.count()


def test_tenant_shows_only_the_tokens_tenant(a_owner, b_side, tenant):
    assert a_owner.get(TENANT).json()["id"] == str(tenant.id)


def test_members_list_holds_no_member_of_another_tenant(a_owner, b_side):
    emails = {row["user"]["email"] for row in a_owner.get(MEMBERS, {"page_size": 100}).json()["results"]}
    assert b_side["owner"].email not in emails
    assert b_side["member"].email not in emails


@pytest.mark.parametrize("who", ["owner", "member"])
def test_another_tenants_member_cannot_be_changed_or_removed(a_owner, b_side, other_tenant, who):
    target = b_side[who]
    path = f"{MEMBERS}{membership_of(target, other_tenant).id}/"
    before = _b_audit_count(other_tenant)
    assert a_owner.patch(path, {"role": "admin"}, format="json").status_code == 404
    assert a_owner.delete(path).status_code == 404
    assert membership_exists(target, other_tenant)
    assert membership_of(target, other_tenant).role.code == who
    assert _b_audit_count(other_tenant) == before


def test_a_user_of_both_tenants_cannot_reach_their_other_membership(api_client, member, portal, other_tenant, b_side):
    both = member("owner")
    member("member", user=both, of=other_tenant)
    client = api_client(both, portal)
    path = f"{MEMBERS}{membership_of(both, other_tenant).id}/"
    assert client.patch(path, {"role": "owner"}, format="json").status_code == 404
    assert client.delete(path).status_code == 404
    assert membership_of(both, other_tenant).role.code == "member"


def test_roles_list_holds_no_custom_role_of_another_tenant(a_owner, b_side):
    codes = [row["code"] for row in a_owner.get(ROLES, {"page_size": 100}).json()["results"]]
    assert "b-only" not in codes
    assert codes == ["admin", "member", "owner"]


def test_another_tenants_role_cannot_be_changed_or_deleted(a_owner, b_side, other_tenant):
    before = _b_audit_count(other_tenant)
    assert a_owner.patch(f"{ROLES}b-only/", {"name": "Mine now", "permissions": []}, format="json").status_code == 404
    assert a_owner.delete(f"{ROLES}b-only/").status_code == 404
    row = role_row(other_tenant, "b-only")
    assert row is not None
    assert (row.name, row.permissions) == ("B only", ["identity.view_member"])
    assert _b_audit_count(other_tenant) == before


def test_another_tenants_role_cannot_be_assigned(a_owner, member, tenant, b_side):
    target = member("member")
    response = a_owner.patch(f"{MEMBERS}{membership_of(target, tenant).id}/", {"role": "b-only"}, format="json")
    assert response.status_code == 400
    assert membership_of(target, tenant).role.code == "member"


def test_creating_a_role_lands_in_the_tokens_tenant_only(a_owner, b_side, tenant, other_tenant):
    body = {"code": "b-only", "name": "A's own", "permissions": [], "tenant_id": str(other_tenant.id)}
    assert a_owner.post(ROLES, body, format="json").status_code == 201  # codes are unique per tenant
    assert role_row(tenant, "b-only").name == "A's own"
    assert role_row(other_tenant, "b-only").name == "B only"
    # ...and A's change of its own role leaves B's namesake alone.
    assert a_owner.patch(f"{ROLES}b-only/", {"name": "Renamed"}, format="json").status_code == 200
    assert a_owner.delete(f"{ROLES}b-only/").status_code == 204
    assert role_row(other_tenant, "b-only").name == "B only"


def test_b_sees_its_own_rows_untouched(api_client, b_side, other_tenant):
    """The other direction: B's owner still lists B's members and role as before."""
    client = api_client(b_side["owner"], other_tenant.portals.get(slug="globex-test"))
    emails = [row["user"]["email"] for row in client.get(MEMBERS).json()["results"]]
    assert emails == [b_side["owner"].email, b_side["member"].email]
    assert "b-only" in [row["code"] for row in client.get(ROLES).json()["results"]]
