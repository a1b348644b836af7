"""Invitations pages (members/invitations/): invite by e-mail and role, the services' 409 and 403, revoke.

Shared helpers in `members_support`, the `signed_in` fixture in conftest.
"""

from __future__ import annotations

import pytest

from apps.common.tenancy import tenant_context
from apps.identity.models import Invitation
from apps.portals.tests.conftest import csrf_post
from apps.portals.tests.members_support import invitations_url, invite, revoke_url

pytestmark = pytest.mark.django_db


# --------------------------------------------------------------------------- invitations


def test_another_tenants_invitation_is_404_and_untouched(web, portal, other_tenant, signed_in):
    signed_in("owner")
    theirs = invite(other_tenant, "theirs@example.test")
    assert web.get(revoke_url(portal, theirs.id)).status_code == 404
    assert csrf_post(web, revoke_url(portal, theirs.id)).status_code == 404
    with tenant_context(other_tenant):
        assert Invitation.objects.get(id=theirs.id).status == Invitation.Status.PENDING


def test_an_admin_invites_by_email_and_role(web, portal, tenant, signed_in, mailoutbox):
    signed_in("admin")
    page = web.get(invitations_url(portal))
    assert page.status_code == 200
    assert b'<label for="id_email">Email</label>' in page.content
    assert b'<label for="id_role">Role</label>' in page.content
    response = csrf_post(web, invitations_url(portal), {"email": "New.Person@Example.test", "role": "member"})
    assert response.status_code == 302, response.content
    listing = web.get(response["Location"])
    assert b"Invitation sent" in listing.content
    assert b"New.Person@example.test" in listing.content
    with tenant_context(tenant):
        invitation = Invitation.objects.get(email__iexact="new.person@example.test")
    assert invitation.role_code == "member"
    assert invitation.status == Invitation.Status.PENDING


def test_inviting_twice_is_the_services_409_next_to_the_form(web, portal, tenant, signed_in):
    signed_in("admin")
    invite(tenant, "twice@example.test")
    response = csrf_post(web, invitations_url(portal), {"email": "twice@example.test", "role": "member"})
    assert response.status_code == 409
    assert b"already has a pending invitation" in response.content
    assert b"form-errors" in response.content


def test_inviting_a_member_is_409(web, portal, tenant, signed_in):
    me = signed_in("admin")
    response = csrf_post(web, invitations_url(portal), {"email": me.email, "role": "member"})
    assert response.status_code == 409
    assert b"already a member" in response.content


def test_an_admin_cannot_invite_an_owner(web, portal, tenant, signed_in):
    signed_in("admin")
    response = csrf_post(web, invitations_url(portal), {"email": "boss@example.test", "role": "owner"})
    assert response.status_code == 403
    assert b"owner" in response.content
    with tenant_context(tenant):
        assert not Invitation.objects.filter(email="boss@example.test").exists()


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"email": "not an email", "role": "member"},
        {"email": "a@example.test", "role": "nonsense"},
        {"email": "a\x00@example.test", "role": "member"},
        {"email": "a" * 300 + "@example.test", "role": "member"},
    ],
)
def test_odd_invitation_input_is_a_form_error(web, portal, tenant, signed_in, data):
    signed_in("admin")
    response = csrf_post(web, invitations_url(portal), data)
    assert response.status_code == 400
    assert b"field-error" in response.content
    with tenant_context(tenant):
        assert not Invitation.objects.exists()


def test_revoke_asks_first_then_revokes(web, portal, tenant, signed_in):
    signed_in("admin")
    pending = invite(tenant, "later@example.test")
    listing = web.get(invitations_url(portal))
    assert revoke_url(portal, pending.id).encode() in listing.content
    confirm = web.get(revoke_url(portal, pending.id))
    assert confirm.status_code == 200
    assert b"later@example.test" in confirm.content
    with tenant_context(tenant):
        assert Invitation.objects.get(id=pending.id).status == Invitation.Status.PENDING
    response = csrf_post(web, revoke_url(portal, pending.id))
    assert response.status_code == 302
    with tenant_context(tenant):
        assert Invitation.objects.get(id=pending.id).status == Invitation.Status.REVOKED
    assert b"Invitation revoked" in web.get(response["Location"]).content
    # Revoked: no longer open, so revoking again is 404.
    assert csrf_post(web, revoke_url(portal, pending.id)).status_code == 404
