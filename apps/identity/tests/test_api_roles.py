"""`roles/`: system and custom roles — listing, the grant rule, system roles frozen, in-use roles kept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from apps.common.tenancy import tenant_context
from apps.identity import rbac
from apps.identity.models import Invitation, Membership, Role
from apps.identity.rbac.view_coverage import uncovered_actions
from apps.identity.tests.factories import UserFactory, make_membership, system_role
from apps.identity.tests.members_roles_support import (
    MANAGE_SUBSCRIPTION,
    ME,
    ROLES,
    VIEW_INVOICE,
    audit_events,
    custom_role,
    role_row,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded", "pro_plan")]


def _holder(tenant, portal, code: str):
    """A user whose membership holds the custom role `code`, admitted to `portal`."""
    portal.admitted_roles = [*portal.admitted_roles, code]
    portal.save()
    user = UserFactory()
    make_membership(user=user, tenant=tenant, role="member")
    with tenant_context(tenant):
        Membership.objects.filter(user=user).update(role=Role.objects.get(code=code))
    return user


# --------------------------------------------------------------------------- list


def test_member_lists_system_roles_first_then_custom_roles_by_code(api_client, member, portal, tenant):
    custom_role(tenant, "zeta", ["identity.view_member"])
    custom_role(tenant, "alpha", [])
    response = api_client(member("member"), portal).get(ROLES)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["next"] is None
    assert body["previous"] is None
    rows = body["results"]
    assert [r["code"] for r in rows] == ["admin", "member", "owner", "alpha", "zeta"]
    assert [r["system"] for r in rows] == [True, True, True, False, False]
    owner = rows[2]
    assert owner["name"] == "Owner"
    assert MANAGE_SUBSCRIPTION in owner["permissions"]
    assert rows[4] == {"code": "zeta", "name": "Zeta", "permissions": ["identity.view_member"], "system": False}


def test_role_list_is_paginated(api_client, member, portal, tenant):
    for index in range(4):
        custom_role(tenant, f"role-{index}", [])
    client = api_client(member("member"), portal)
    first = client.get(ROLES, {"page_size": 5}).json()
    assert len(first["results"]) == 5
    assert first["next"]
    second = client.get(first["next"]).json()
    assert [r["code"] for r in second["results"]] == ["role-2", "role-3"]


# --------------------------------------------------------------------------- create


def test_admin_creates_a_custom_role(api_client, member, portal, tenant):
    admin = member("admin")
    client = api_client(admin, portal)
    body = {"code": "support", "name": "Support", "permissions": ["identity.view_member", VIEW_INVOICE]}
    response = client.post(ROLES, body, format="json")
    assert response.status_code == 201, response.content
    assert response.json() == {
        "code": "support",
        "name": "Support",
        "permissions": sorted(body["permissions"]),
        "system": False,
    }
    row = role_row(tenant, "support")
    assert row is not None
    assert row.tenant_id == tenant.id
    assert "support" in [r["code"] for r in client.get(ROLES).json()["results"]]
    (event,) = audit_events(tenant, "role.created")
    assert event.actor_id == admin.id
    assert event.data["code"] == "support"


def test_body_tenant_id_is_ignored(api_client, member, portal, tenant, other_tenant):
    body = {"code": "support", "name": "Support", "permissions": [], "tenant_id": str(other_tenant.id)}
    assert api_client(member("admin"), portal).post(ROLES, body, format="json").status_code == 201
    assert role_row(tenant, "support") is not None
    assert role_row(other_tenant, "support") is None


@pytest.mark.parametrize("code", ["owner", "admin", "member"])
def test_system_codes_are_reserved(api_client, member, portal, tenant, code):
    response = api_client(member("admin"), portal).post(
        ROLES, {"code": code, "name": "Mine", "permissions": []}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["reason"] == "reserved"


def test_a_code_is_unique_in_the_tenant(api_client, member, portal, tenant):
    custom_role(tenant, "support", [])
    response = api_client(member("admin"), portal).post(
        ROLES, {"code": "support", "name": "Again", "permissions": []}, format="json"
    )
    assert response.status_code == 409
    assert role_row(tenant, "support").name == "Support"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "No code", "permissions": []}, "code"),
        ({"code": "Has Spaces", "name": "X", "permissions": []}, "code"),
        ({"code": "UPPER", "name": "X", "permissions": []}, "code"),
        ({"code": "x" * 51, "name": "X", "permissions": []}, "code"),
        ({"code": "ok", "permissions": []}, "name"),
        ({"code": "ok", "name": "", "permissions": []}, "name"),
        ({"code": "ok", "name": "X"}, "permissions"),
        ({"code": "ok", "name": "X", "permissions": "identity.view_member"}, "permissions"),
        ({"code": "ok", "name": "X", "permissions": {"a": 1}}, "permissions"),
        ({"code": "ok", "name": "X", "permissions": ["identity.no_such_thing"]}, "permissions"),
        ({"code": "ok", "name": "X", "permissions": [["nested"]]}, "permissions"),
        ({"code": ["ok"], "name": "X", "permissions": []}, "code"),
    ],
)
def test_create_rejects_bad_input(api_client, member, portal, tenant, body, field):
    response = api_client(member("owner"), portal).post(ROLES, body, format="json")
    assert response.status_code == 400, response.content
    assert any(key.startswith(field) for key in response.json()["errors"]), response.json()
    with tenant_context(tenant):
        assert not Role.objects.filter(tenant=tenant).exists()


def test_admin_cannot_create_a_role_with_a_permission_they_lack(api_client, member, portal, tenant):
    body = {"code": "billing-boss", "name": "Billing", "permissions": [MANAGE_SUBSCRIPTION]}
    response = api_client(member("admin"), portal).post(ROLES, body, format="json")
    assert response.status_code == 403
    assert MANAGE_SUBSCRIPTION in response.json()["detail"]
    assert role_row(tenant, "billing-boss") is None
    # An owner holds it.
    assert api_client(member("owner"), portal).post(ROLES, body, format="json").status_code == 201


# --------------------------------------------------------------------------- update


def test_admin_renames_and_changes_a_custom_role(api_client, member, portal, tenant):
    custom_role(tenant, "support", ["identity.view_member"])
    client = api_client(member("admin"), portal)
    response = client.patch(
        f"{ROLES}support/", {"name": "Help desk", "permissions": [VIEW_INVOICE, "identity.view_role"]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json() == {
        "code": "support",
        "name": "Help desk",
        "permissions": ["billing.view_invoice", "identity.view_role"],
        "system": False,
    }
    (event,) = audit_events(tenant, "role.updated")
    assert event.data["permissions"] == {
        "added": ["billing.view_invoice", "identity.view_role"],
        "removed": ["identity.view_member"],
    }
    # Only the name: permissions stay.
    assert client.patch(f"{ROLES}support/", {"name": "Desk"}, format="json").json()["permissions"] == [
        "billing.view_invoice",
        "identity.view_role",
    ]


def test_update_cannot_add_a_permission_the_actor_lacks(api_client, member, portal, tenant):
    custom_role(tenant, "support", ["identity.view_member"])
    client = api_client(member("admin"), portal)
    response = client.patch(f"{ROLES}support/", {"permissions": [MANAGE_SUBSCRIPTION]}, format="json")
    assert response.status_code == 403
    assert role_row(tenant, "support").permissions == ["identity.view_member"]


def test_an_admin_may_rename_or_trim_a_role_granting_more_than_they_hold(api_client, member, portal, tenant):
    custom_role(tenant, "billing-boss", [MANAGE_SUBSCRIPTION, VIEW_INVOICE])
    client = api_client(member("admin"), portal)
    renamed = client.patch(f"{ROLES}billing-boss/", {"name": "Billing lead"}, format="json")
    assert renamed.status_code == 200
    # Keeping a code the role already has grants nothing new; removing one is always allowed.
    kept = client.patch(f"{ROLES}billing-boss/", {"permissions": [MANAGE_SUBSCRIPTION]}, format="json")
    assert kept.status_code == 200
    assert role_row(tenant, "billing-boss").permissions == [MANAGE_SUBSCRIPTION]


@pytest.mark.parametrize("code", ["owner", "admin", "member"])
def test_system_roles_cannot_be_changed_or_deleted(api_client, member, portal, code):
    client = api_client(member("owner"), portal)
    before = list(system_role(code).permissions)
    assert client.patch(f"{ROLES}{code}/", {"name": "Renamed"}, format="json").status_code == 409
    assert client.patch(f"{ROLES}{code}/", {"permissions": []}, format="json").status_code == 409
    assert client.delete(f"{ROLES}{code}/").status_code == 409
    role = system_role(code)
    assert role.permissions == before
    assert role.name == code.title()


@pytest.mark.parametrize(
    "body",
    [{"name": ""}, {"name": ["x"]}, {"permissions": "identity.view_member"}, {"permissions": ["nope.nope_nope"]}],
)
def test_update_rejects_bad_input(api_client, member, portal, tenant, body):
    custom_role(tenant, "support", ["identity.view_member"])
    response = api_client(member("admin"), portal).patch(f"{ROLES}support/", body, format="json")
    assert response.status_code == 400, response.content
    row = role_row(tenant, "support")
    assert (row.name, row.permissions) == ("Support", ["identity.view_member"])


def test_unknown_role_codes_are_404(api_client, member, portal):
    client = api_client(member("owner"), portal)
    assert client.patch(f"{ROLES}nope/", {"name": "X"}, format="json").status_code == 404
    assert client.delete(f"{ROLES}nope/").status_code == 404
    # Not a slug: no such route.
    assert client.delete(f"{ROLES}no%20pe/").status_code == 404


# --------------------------------------------------------------------------- delete


def test_admin_deletes_an_unused_custom_role(api_client, member, portal, tenant):
    role = custom_role(tenant, "support", [])
    client = api_client(member("admin"), portal)
    # A finished invitation that offered the role does not keep it alive.
    with tenant_context(tenant):
        old = Invitation.objects.create(
            email="old@example.test", role=role, status=Invitation.Status.REVOKED, expires_at=timezone.now()
        )
    assert client.delete(f"{ROLES}support/").status_code == 204
    assert role_row(tenant, "support") is None
    # No data lost: the finished invitation stays, remembering the role it offered.
    with tenant_context(tenant):
        old.refresh_from_db()
    assert old.role_id is None
    assert old.role_code == "support"
    assert "support" not in [r["code"] for r in client.get(ROLES).json()["results"]]
    (event,) = audit_events(tenant, "role.deleted")
    assert event.data["code"] == "support"
    assert client.delete(f"{ROLES}support/").status_code == 404


def test_a_role_held_by_a_member_cannot_be_deleted(api_client, member, portal, tenant):
    custom_role(tenant, "support", [])
    _holder(tenant, portal, "support")
    response = api_client(member("admin"), portal).delete(f"{ROLES}support/")
    assert response.status_code == 409
    assert role_row(tenant, "support") is not None


def test_a_role_offered_by_a_pending_invitation_cannot_be_deleted(api_client, member, portal, tenant):
    role = custom_role(tenant, "support", [])
    with tenant_context(tenant):
        Invitation.objects.create(email="new@example.test", role=role, expires_at=timezone.now() + timedelta(days=1))
    response = api_client(member("admin"), portal).delete(f"{ROLES}support/")
    assert response.status_code == 409
    assert role_row(tenant, "support") is not None


# --------------------------------------------------------------------------- permissions


def test_member_can_list_but_not_write_roles(api_client, member, portal, tenant):
    custom_role(tenant, "support", [])
    client = api_client(member("member"), portal)
    assert client.get(ROLES).status_code == 200
    assert client.post(ROLES, {"code": "mine", "name": "Mine", "permissions": []}, format="json").status_code == 403
    assert client.patch(f"{ROLES}support/", {"name": "Hacked"}, format="json").status_code == 403
    assert client.delete(f"{ROLES}support/").status_code == 403
    assert role_row(tenant, "mine") is None
    assert role_row(tenant, "support").name == "Support"


def test_roles_endpoints_need_a_token():
    assert APIClient().get(ROLES).status_code == 401
    assert APIClient().post(ROLES, {}, format="json").status_code == 401


def test_roles_view_maps_every_action():
    from apps.identity.api.roles import RoleViewSet

    assert uncovered_actions(RoleViewSet) == set()


# --------------------------------------------------------------------------- propagation


@pytest.mark.django_db(transaction=True)
def test_holders_of_a_changed_role_get_its_permissions_at_their_next_request(api_client, member, portal, tenant):
    custom_role(tenant, "support", ["identity.view_member"])
    holder = _holder(tenant, portal, "support")
    holder_client = api_client(holder, portal)
    me = holder_client.get(ME).json()
    assert me["roles"] == ["support"]
    assert me["permissions"] == ["identity.view_member"]
    assert holder_client.get(ROLES).status_code == 403

    version = cache.get(rbac.RBAC_VERSION_KEY)
    admin_client = api_client(member("admin"), portal)
    response = admin_client.patch(
        f"{ROLES}support/", {"permissions": ["identity.view_member", "identity.view_role"]}, format="json"
    )
    assert response.status_code == 200
    assert cache.get(rbac.RBAC_VERSION_KEY) != version  # every process reloads at its next request

    # Same token, no new sign-in: the next request already has the new permission.
    assert holder_client.get(ME).json()["permissions"] == ["identity.view_member", "identity.view_role"]
    assert holder_client.get(ROLES).status_code == 200
