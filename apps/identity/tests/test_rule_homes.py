"""The rules that have one home each, tried through every caller that used to carry a copy.

- Who may grant `owner` is read from the database (services.grants), for an
  invitation as for a role change: a token minted before a demotion grants
  nothing the database no longer says.
- Seats are counted one way (services.seats) for inviting, signing up and
  accepting.
- A session of either kind starts in services.sessions and ends there.
"""

from __future__ import annotations

from uuid import uuid4

import pytest
from rest_framework.test import APIClient

from apps.common.exceptions import Conflict, NotFound, PermissionDenied
from apps.common.tenancy import tenant_context
from apps.identity import plugs
from apps.identity.models import AuthSession, Invitation, Membership, RefreshToken
from apps.identity.services import accounts, invitations, sessions
from apps.identity.services.seats import seats_used
from apps.identity.services.tenants import tenant_lock
from apps.identity.tests.factories import PortalFactory, UserFactory, make_membership, system_role
from apps.identity.tests.invitations_support import ACCEPT, LIST, NEW_PASSWORD, token_from_mail

pytestmark = pytest.mark.usefixtures("rbac_seeded")


@pytest.fixture
def seat_limit(monkeypatch):
    def set_limit(limit: int | None) -> None:
        monkeypatch.setattr(plugs.plugs, "seat_limit", lambda tenant: limit)

    return set_limit


# --- only an owner grants owner, as the database says ---------------------------------------


def test_an_admin_cannot_invite_an_owner_through_the_service(tenant, portal, member):
    admin = member("admin")
    with tenant_context(tenant), pytest.raises(PermissionDenied, match="Only an owner"):
        invitations.invitation_create(tenant=tenant, actor=admin, email="boss@example.test", role="owner")
    with tenant_context(tenant):
        assert not Invitation.objects.exists()


def test_a_token_minted_before_a_demotion_no_longer_invites_an_owner(tenant, portal, member, api_client, invite):
    """The token still says `owner` (its session was not ended here); the database says `admin`."""
    owner = member("owner")
    member("owner")  # the tenant keeps another owner
    client = api_client(owner, portal)
    with tenant_context(tenant):
        Membership.objects.filter(user=owner).update(role=system_role("admin"))
    response = invite(client, "boss@example.test", "owner")
    assert response.status_code == 403, response.content
    assert "owner" in response.json()["detail"]
    with tenant_context(tenant):
        assert not Invitation.objects.exists()
    # What an admin may grant still works: the rule reads the role, not the token.
    assert invite(client, "helper@example.test", "member").status_code == 201


def test_a_member_whose_membership_is_gone_invites_nobody(tenant, portal, member, api_client, invite):
    admin = member("admin")
    client = api_client(admin, portal)
    with tenant_context(tenant):
        Membership.objects.filter(user=admin).delete()
    assert invite(client, "someone@example.test", "member").status_code == 403


# --- one seat count for invite, sign-up and accept --------------------------------------------


def test_seats_count_members_and_live_invitations_of_this_tenant_only(
    tenant, other_tenant, portal, member, admin_api, invite
):
    member("member")
    assert invite(admin_api, "one@example.test").status_code == 201
    other_admin = UserFactory()
    make_membership(user=other_admin, tenant=other_tenant, role="admin")
    PortalFactory(tenant=other_tenant, slug="globex-test", is_default=True)
    with tenant_context(other_tenant):
        invitations.invitation_create(tenant=other_tenant, actor=other_admin, email="two@example.test", role="member")
    with tenant_context(tenant):
        # The admin, one member, one pending invitation: the other tenant's invitation is not ours.
        assert seats_used(tenant=tenant) == 3
        invitation = Invitation.objects.get()
        assert seats_used(tenant=tenant, excluding=invitation) == 2


def test_a_limit_lowered_below_the_seats_held_stops_accepting_until_a_seat_is_freed(
    tenant, portal, admin_api, invite, seat_limit, api
):
    assert invite(admin_api, "first@example.test").status_code == 201
    assert invite(admin_api, "second@example.test").status_code == 201
    first, second = token_from_mail("first@example.test"), token_from_mail("second@example.test")
    seat_limit(2)  # the admin and two invitations hold three seats
    refused = api.post(ACCEPT, {"token": first, "password": NEW_PASSWORD}, format="json")
    assert refused.status_code == 409
    assert "revoke an invitation" in refused.json()["detail"]
    # Revoking the second invitation frees the seat the first one needs.
    pending = {i["email"]: i["id"] for i in admin_api.get(LIST).json()["results"]}
    assert admin_api.delete(f"{LIST}{pending['second@example.test']}/").status_code == 204
    assert api.post(ACCEPT, {"token": first, "password": NEW_PASSWORD}, format="json").status_code == 200
    assert api.post(ACCEPT, {"token": second, "password": NEW_PASSWORD}, format="json").status_code == 400


def test_sign_up_is_refused_without_telling_the_limit(tenant, portal, member, seat_limit):
    portal.signup_policy = "open"
    portal.save()
    member("member")
    seat_limit(1)  # filled by that member
    response = APIClient().post(
        "/api/v1/identity/auth/register/",
        {"email": "late@example.test", "password": NEW_PASSWORD, "portal": portal.slug},
        format="json",
    )
    assert response.status_code == 409
    assert "seat_limit" not in response.json()


# --- the tenant lock ---------------------------------------------------------------------------


def test_tenant_lock_returns_the_row_and_refuses_an_unknown_tenant(tenant, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert tenant_lock(tenant_id=tenant.id) == tenant
    with pytest.raises(NotFound):
        tenant_lock(tenant_id=uuid4())


def test_the_seat_check_refuses_the_last_seat_twice(tenant, portal, member, seat_limit):
    admin = member("admin")
    seat_limit(2)
    with tenant_context(tenant):
        invitations.invitation_create(tenant=tenant, actor=admin, email="a@example.test", role="member")
        with pytest.raises(Conflict):
            invitations.invitation_create(tenant=tenant, actor=admin, email="b@example.test", role="member")


# --- a browser session starts and ends where an API session does ------------------------------


def test_a_browser_session_has_no_tokens_and_ends_with_its_user(tenant, portal, member):
    user = member("member")
    with tenant_context(tenant):
        membership = Membership.objects.select_related("role").get(user=user)
    session, held = sessions.session_open(
        user=user,
        membership=membership,
        portal=portal,
        amr=["pwd"],
        client=sessions.ClientInfo(ip="203.0.113.9"),
        kind=AuthSession.Kind.BROWSER,
    )
    assert session.kind == AuthSession.Kind.BROWSER
    assert held.role.code == "member"
    assert not RefreshToken.objects.filter(session=session).exists()
    assert accounts.user_deactivate(user=user) == 1
    session.refresh_from_db()
    assert session.revoked_at is not None
    assert session.revoke_reason == "deactivated"


def test_a_browser_session_is_refused_to_a_member_the_portal_does_not_admit(tenant, portal, member):
    portal.admitted_roles = ["owner", "admin"]
    portal.save()
    user = member("member")
    with tenant_context(tenant):
        membership = Membership.objects.select_related("role").get(user=user)
    with pytest.raises(PermissionDenied):
        sessions.session_open(
            user=user,
            membership=membership,
            portal=portal,
            amr=["pwd"],
            client=sessions.ClientInfo(),
            kind=AuthSession.Kind.BROWSER,
        )
    assert not AuthSession.objects.filter(user=user).exists()
