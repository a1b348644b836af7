"""`members/`: list, change a member's role, remove a member — owner rules, sessions, audit."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.identity.tests.factories import UserFactory, make_membership
from apps.identity.tests.members_roles_support import (
    MANAGE_SUBSCRIPTION,
    ME,
    MEMBERS,
    REFRESH,
    audit_events,
    bearer,
    custom_role,
    membership_exists,
    membership_of,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded")]


def _detail(user, tenant) -> str:
    return f"{MEMBERS}{membership_of(user, tenant).id}/"


# --------------------------------------------------------------------------- list


def test_member_lists_members_oldest_first_with_user_and_role(api_client, member, portal, tenant):
    owner = member("owner")
    admin = member("admin")
    plain = member("member")
    response = api_client(plain, portal).get(MEMBERS)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["next"] is None
    assert body["previous"] is None
    rows = body["results"]
    assert [r["user"]["email"] for r in rows] == [owner.email, admin.email, plain.email]
    first = rows[0]
    assert first == {
        "id": str(membership_of(owner, tenant).id),
        "user": {"id": str(owner.id), "email": owner.email, "name": owner.name},
        "role": "owner",
        "status": "active",
    }
    assert [r["role"] for r in rows] == ["owner", "admin", "member"]


def test_member_list_is_paginated(api_client, member, portal):
    viewer = member("member")
    for _ in range(4):
        member("member")
    client = api_client(viewer, portal)
    first = client.get(MEMBERS, {"page_size": 2}).json()
    assert len(first["results"]) == 2
    assert first["next"]
    assert first["previous"] is None
    last = client.get(MEMBERS, {"page_size": 2, "page": 3}).json()
    assert len(last["results"]) == 1
    assert last["next"] is None
    assert last["previous"]


def test_member_list_costs_the_same_queries_for_1_20_and_100_rows(api_client, member, portal, tenant):
    viewer = member("member")
    client = api_client(viewer, portal)
    client.get(MEMBERS)  # warm the process's role map, as any earlier request would have

    counts, existing = {}, 1
    for size in (1, 20, 100):
        for _ in range(size - existing):
            make_membership(user=UserFactory(), tenant=tenant)
        existing = size
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(MEMBERS, {"page_size": 100})
        assert response.status_code == 200
        assert len(response.json()["results"]) == size
        counts[size] = len(ctx.captured_queries)
    assert counts[1] == counts[20] == counts[100], counts
    # The test's wrapping transaction turns the request's atomic block into a savepoint pair;
    # in production that is BEGIN/COMMIT. What remains: the tenant setting (set, and reset only
    # inside the test's transaction) and one query: the page of members with their users, and each
    # row's role code as a scalar subquery (api/members.py `_member_rows` says why not a join).
    queries = [q["sql"] for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"].upper()]
    assert len(queries) <= 3, queries
    rows = [q for q in queries if "set_config" not in q]
    assert len(rows) == 1, queries
    assert "identity_membership" in rows[0]
    assert '(SELECT U0."code"' in rows[0], queries


# --------------------------------------------------------------------------- change role


# Token endpoints (refresh) run outside the request transaction, as in production.
@pytest.mark.django_db(transaction=True)
def test_admin_changes_a_members_role_and_their_sessions_end(api, api_client, login, member, portal, tenant):
    admin = member("admin")
    target = member("member")
    target_tokens = login(target, portal)
    response = api_client(admin, portal).patch(_detail(target, tenant), {"role": "admin"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["role"] == "admin"
    assert response.json()["user"]["email"] == target.email
    assert membership_of(target, tenant).role.code == "admin"
    # The old token carries the old role: it stops at once, and so does its refresh token.
    assert bearer(APIClient(), target_tokens).get(ME).status_code == 401
    assert api.post(REFRESH, {"refresh": target_tokens["refresh"]}).status_code == 401
    # Signing in again gives the new role.
    me = bearer(APIClient(), login(target, portal)).get(ME).json()
    assert me["roles"] == ["admin"]
    assert "identity.manage_member" in me["permissions"]
    (event,) = audit_events(tenant, "member.role_changed")
    assert event.actor_id == admin.id
    assert event.data["from"] == "member"
    assert event.data["to"] == "admin"
    assert event.data["user_id"] == str(target.id)


def test_admin_cannot_grant_owner(api_client, member, portal, tenant):
    admin = member("admin")
    target = member("member")
    response = api_client(admin, portal).patch(_detail(target, tenant), {"role": "owner"}, format="json")
    assert response.status_code == 403
    assert response["Content-Type"].startswith("application/problem+json")
    assert membership_of(target, tenant).role.code == "member"
    assert not audit_events(tenant, "member.role_changed")


def test_admin_cannot_demote_or_remove_an_owner(api_client, member, portal, tenant):
    owner = member("owner")
    member("owner")  # a second owner: the refusal is about who asks, not about the last owner
    client = api_client(member("admin"), portal)
    assert client.patch(_detail(owner, tenant), {"role": "member"}, format="json").status_code == 403
    assert client.delete(_detail(owner, tenant)).status_code == 403
    assert membership_of(owner, tenant).role.code == "owner"


def test_admin_cannot_promote_self_to_owner(api_client, member, portal, tenant):
    admin = member("admin")
    member("owner")
    response = api_client(admin, portal).patch(_detail(admin, tenant), {"role": "owner"}, format="json")
    assert response.status_code == 403
    assert membership_of(admin, tenant).role.code == "admin"


def test_owner_grants_owner_and_demotes_another_owner(api_client, member, portal, tenant):
    owner = member("owner")
    target = member("admin")
    client = api_client(owner, portal)
    assert client.patch(_detail(target, tenant), {"role": "owner"}, format="json").status_code == 200
    assert membership_of(target, tenant).role.code == "owner"
    # Two owners: one may be demoted.
    assert client.patch(_detail(target, tenant), {"role": "member"}, format="json").status_code == 200
    assert membership_of(target, tenant).role.code == "member"


def test_an_owner_may_step_down_while_another_owner_remains(api_client, member, portal, tenant):
    owner = member("owner")
    member("owner")
    response = api_client(owner, portal).patch(_detail(owner, tenant), {"role": "admin"}, format="json")
    assert response.status_code == 200
    assert membership_of(owner, tenant).role.code == "admin"


def test_the_last_owner_cannot_be_demoted(api_client, member, portal, tenant):
    owner = member("owner")
    response = api_client(owner, portal).patch(_detail(owner, tenant), {"role": "admin"}, format="json")
    assert response.status_code == 409
    assert membership_of(owner, tenant).role.code == "owner"


def test_a_suspended_owner_does_not_count_as_another_owner(api_client, member, portal, tenant):
    owner = member("owner")
    dormant = member("owner")
    with_row = membership_of(dormant, tenant)
    from apps.common.tenancy import tenant_context

    with tenant_context(tenant):
        with_row.status = "suspended"
        with_row.save()
    response = api_client(owner, portal).patch(_detail(owner, tenant), {"role": "admin"}, format="json")
    assert response.status_code == 409


def test_setting_the_same_role_changes_nothing(api_client, login, member, portal, tenant):
    admin = member("admin")
    target = member("member")
    target_tokens = login(target, portal)
    response = api_client(admin, portal).patch(_detail(target, tenant), {"role": "member"}, format="json")
    assert response.status_code == 200
    assert bearer(APIClient(), target_tokens).get(ME).status_code == 200
    assert not audit_events(tenant, "member.role_changed")


def test_a_custom_role_can_be_assigned(api_client, member, portal, tenant):
    custom_role(tenant, "support", ["identity.view_member"])
    target = member("member")
    response = api_client(member("admin"), portal).patch(_detail(target, tenant), {"role": "support"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["role"] == "support"
    assert membership_of(target, tenant).role.code == "support"


def test_nobody_assigns_a_role_granting_more_than_they_hold(api_client, member, portal, tenant):
    custom_role(tenant, "billing-boss", [MANAGE_SUBSCRIPTION])
    admin = member("admin")
    target = member("member")
    # An admin lacks billing.manage_subscription: neither for someone else nor for themselves.
    client = api_client(admin, portal)
    assert client.patch(_detail(target, tenant), {"role": "billing-boss"}, format="json").status_code == 403
    assert client.patch(_detail(admin, tenant), {"role": "billing-boss"}, format="json").status_code == 403
    assert membership_of(target, tenant).role.code == "member"
    # An owner holds it and may.
    owner_client = api_client(member("owner"), portal)
    assert owner_client.patch(_detail(target, tenant), {"role": "billing-boss"}, format="json").status_code == 200


@pytest.mark.parametrize(
    "body",
    [{}, {"role": "emperor"}, {"role": ""}, {"role": ["admin"]}, {"role": {"code": "admin"}}, {"role": None}],
    ids=["missing", "unknown", "blank", "list", "object", "null"],
)
def test_change_role_rejects_bad_input(api_client, member, portal, tenant, body):
    target = member("member")
    response = api_client(member("admin"), portal).patch(_detail(target, tenant), body, format="json")
    assert response.status_code == 400, response.content
    assert "role" in response.json()["errors"]
    assert membership_of(target, tenant).role.code == "member"


def test_change_role_rejects_a_non_json_body(api_client, member, portal, tenant):
    target = member("member")
    response = api_client(member("admin"), portal).patch(
        _detail(target, tenant), "{not json", content_type="application/json"
    )
    assert response.status_code == 400


def test_unknown_or_malformed_member_ids_are_404(api_client, member, portal):
    client = api_client(member("admin"), portal)
    for path in (f"{MEMBERS}00000000-0000-0000-0000-000000000000/", f"{MEMBERS}not-a-uuid/", f"{MEMBERS}1/"):
        assert client.patch(path, {"role": "member"}, format="json").status_code == 404, path
        assert client.delete(path).status_code == 404, path


def test_put_and_get_of_one_member_are_not_offered(api_client, member, portal, tenant):
    target = member("member")
    client = api_client(member("admin"), portal)
    assert client.put(_detail(target, tenant), {"role": "admin"}, format="json").status_code == 405
    assert client.get(_detail(target, tenant)).status_code == 405


# --------------------------------------------------------------------------- remove


# Token endpoints (refresh) run outside the request transaction, as in production.
@pytest.mark.django_db(transaction=True)
def test_admin_removes_a_member_whose_sessions_end_at_once(api, api_client, login, member, portal, tenant):
    admin = member("admin")
    target = member("member")
    tokens = login(target, portal)
    assert bearer(APIClient(), tokens).get(ME).status_code == 200
    membership_id = membership_of(target, tenant).id
    response = api_client(admin, portal).delete(f"{MEMBERS}{membership_id}/")
    assert response.status_code == 204
    assert not membership_exists(target, tenant)
    assert bearer(APIClient(), tokens).get(ME).status_code == 401
    assert api.post(REFRESH, {"refresh": tokens["refresh"]}).status_code == 401
    (event,) = audit_events(tenant, "member.removed")
    assert event.actor_id == admin.id
    assert event.target_id == str(membership_id)
    assert event.data == {"user_id": str(target.id), "role": "member"}
    # Gone from the list; removing again is 404.
    client = api_client(admin, portal)
    assert target.email not in [r["user"]["email"] for r in client.get(MEMBERS).json()["results"]]
    assert client.delete(f"{MEMBERS}{membership_id}/").status_code == 404


def test_removal_keeps_the_users_sessions_in_other_tenants(api_client, login, member, portal, tenant, other_tenant):
    from apps.identity.tests.factories import PortalFactory

    other_portal = PortalFactory(tenant=other_tenant, slug="globex-test", is_default=True)
    target = member("member")
    member("member", user=target, of=other_tenant)
    elsewhere = login(target, other_portal)
    assert api_client(member("admin"), portal).delete(_detail(target, tenant)).status_code == 204
    assert bearer(APIClient(), elsewhere).get(ME).status_code == 200


def test_owner_removes_an_owner_but_the_last_owner_stays(api_client, member, portal, tenant):
    owner = member("owner")
    second = member("owner")
    client = api_client(owner, portal)
    assert client.delete(_detail(second, tenant)).status_code == 204
    assert not membership_exists(second, tenant)
    response = client.delete(_detail(owner, tenant))
    assert response.status_code == 409
    assert response.json()["status"] == 409
    assert membership_exists(owner, tenant)


# --------------------------------------------------------------------------- permissions


def test_member_cannot_change_or_remove_members(api_client, member, portal, tenant):
    target = member("member")
    client = api_client(member("member"), portal)
    assert client.patch(_detail(target, tenant), {"role": "admin"}, format="json").status_code == 403
    assert client.delete(_detail(target, tenant)).status_code == 403
    assert membership_exists(target, tenant)
    assert membership_of(target, tenant).role.code == "member"


def test_a_custom_role_without_view_member_cannot_list(api_client, member, portal, tenant):
    custom_role(tenant, "viewer", [])
    portal.admitted_roles = [*portal.admitted_roles, "viewer"]
    portal.save()
    user = UserFactory()
    make_membership(user=user, tenant=tenant, role="member")
    from apps.common.tenancy import tenant_context
    from apps.identity.models import Membership, Role

    with tenant_context(tenant):
        Membership.objects.filter(user=user).update(role=Role.objects.get(code="viewer"))
    assert api_client(user, portal).get(MEMBERS).status_code == 403


def test_members_endpoints_need_a_token():
    client = APIClient()
    assert client.get(MEMBERS).status_code == 401
    response = client.delete(f"{MEMBERS}00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_members_view_maps_every_action():
    from apps.identity.api.members import MemberViewSet
    from apps.identity.rbac.view_coverage import uncovered_actions

    assert uncovered_actions(MemberViewSet) == set()


# --------------------------------------------------------------------------- concurrency


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_owners_demoting_each_other_at_once_leave_one_owner(member, tenant):
    """The tenant lock serialises admin writes: both demotions cannot pass the last-owner check."""
    import threading

    from django.db import connection as thread_connection

    from apps.common.exceptions import ApplicationError
    from apps.common.tenancy import tenant_context
    from apps.identity.services.members import membership_change_role

    first, second = member("owner"), member("owner")
    plans = [(first, membership_of(second, tenant).id), (second, membership_of(first, tenant).id)]
    barrier = threading.Barrier(len(plans))
    outcomes: list[str] = []

    def demote(actor, membership_id) -> None:
        try:
            barrier.wait(timeout=10)
            with tenant_context(tenant):
                membership_change_role(tenant=tenant, actor=actor, membership_id=membership_id, role="admin")
            outcomes.append("demoted")
        except ApplicationError:  # 403 (no longer an owner) or 409 (the last owner), by timing
            outcomes.append("refused")
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=demote, args=plan) for plan in plans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["demoted", "refused"]
    roles = {membership_of(user, tenant).role.code for user in (first, second)}
    assert roles == {"owner", "admin"}
