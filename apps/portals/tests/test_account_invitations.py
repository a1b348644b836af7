"""Accepting an invitation from its mailed link: new and existing accounts, MFA, admission, lockout, and links
that cannot be bent to join another person's account. Helpers: `account_support`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from apps.common.tenancy import tenant_context
from apps.identity.models import AuthSession, Invitation, Membership, Portal, User
from apps.identity.services import invitations
from apps.identity.tests.factories import PASSWORD, PortalFactory
from apps.portals.tests.account_support import (
    NEW_PASSWORD,
    _link_fields,
    is_member,
    mailed_link,
    messages_on,
    page_text,
    signed_in_as,
    verified,
)
from apps.portals.tests.conftest import csrf_post

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded")]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def other_portal(other_tenant: Any) -> Portal:
    return PortalFactory(tenant=other_tenant, slug="globex-test", name="Globex Test Portal", is_default=True)


@pytest.fixture
def invite(tenant: Any, member: Callable[..., Any], committed: Callable[[], Any]) -> Callable[..., str]:
    """`invite(email, role="member")` → the path of the invitation link mailed to `email`, sent by an admin."""
    admin = member("admin")

    def send(email: str, role: str = "member") -> str:
        with tenant_context(tenant), committed():
            invitations.invitation_create(tenant=tenant, actor=admin, email=email, role=role)
        return mailed_link(email, "invitations/accept")

    return send


# --------------------------------------------------------------------------- invitations


def test_a_new_person_accepts_sets_a_password_and_is_signed_in(web, portal, tenant, invite, portal_login):
    link = invite("New.Person@Example.test")
    assert link.startswith(f"/portal/{portal.slug}/invitations/accept/?token=")
    page = web.get(link)
    assert page.status_code == 200
    text = page_text(page)
    assert "New.Person@example.test" in text
    assert "Acme Test" in text
    assert '<label for="id_password">Choose a password</label>' in text

    token = _link_fields(link)["token"]
    weak = csrf_post(web, link, {"token": token, "password": "short", "password_again": "short"})
    assert weak.status_code == 400
    assert 'id="id_password_error"' in page_text(weak)
    assert not User.objects.filter(email__iexact="new.person@example.test").exists()

    done = csrf_post(
        web, link, {"token": token, "name": "New Person", "password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    )
    assert done.status_code == 302, page_text(done)
    assert done["Location"] == f"/portal/{portal.slug}/dashboard/"
    user = User.objects.get(email__iexact="new.person@example.test")
    assert user.email_verified
    assert user.name == "New Person"
    assert is_member(user, tenant)
    assert signed_in_as(web, portal) == user.email
    assert AuthSession.objects.filter(user=user, kind=AuthSession.Kind.BROWSER).count() == 1

    # Once.
    again = Client(enforce_csrf_checks=True)
    again.get(f"/portal/{portal.slug}/login/")  # the CSRF cookie (a dead link's page has no form)
    assert again.get(link).status_code == 400
    reused = csrf_post(again, link, {"token": token, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD})
    assert reused.status_code == 400
    assert "invalid or has expired" in page_text(reused)
    # And the password chosen there signs in through the login form.
    assert (
        portal_login(user, portal, password=NEW_PASSWORD, client=again)["Location"]
        == f"/portal/{portal.slug}/dashboard/"
    )


def test_an_existing_account_accepts_with_its_password(web, portal, tenant, other_tenant, member, invite):
    someone = verified(member("member", of=other_tenant))
    link = invite(someone.email)
    token = _link_fields(link)["token"]
    page = web.get(link)
    assert page.status_code == 200
    assert '<label for="id_password">Your password</label>' in page_text(page)
    assert "Choose a password" not in page_text(page)

    wrong = csrf_post(web, link, {"token": token, "password": "not the password at all"})
    assert wrong.status_code == 400
    assert "The password is wrong." in page_text(wrong)
    assert not is_member(someone, tenant)  # the link alone did not join the account
    with tenant_context(tenant):
        assert Invitation.objects.get().status == Invitation.Status.PENDING
    missing = csrf_post(web, link, {"token": token})
    assert missing.status_code == 400

    done = csrf_post(web, link, {"token": token, "password": PASSWORD})
    assert done.status_code == 302, page_text(done)
    assert done["Location"] == f"/portal/{portal.slug}/dashboard/"
    assert is_member(someone, tenant)
    someone.refresh_from_db()
    assert someone.check_password(PASSWORD)  # nothing typed here replaced it
    assert signed_in_as(web, portal) == someone.email
    assert web.get(link).status_code == 400


def test_an_unproved_account_invited_takes_the_password_chosen_there(web, portal, tenant, other_tenant, member, invite):
    # An account nobody proved the address of (someone may have signed up with another's address): the invitation's
    # holder sets the password, and whatever the account had stops working (identity's rule, services.proof).
    squatted = member("member", of=other_tenant)
    assert not squatted.email_verified
    link = invite(squatted.email)
    assert '<label for="id_password">Choose a password</label>' in page_text(web.get(link))
    token = _link_fields(link)["token"]
    done = csrf_post(web, link, {"token": token, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD})
    assert done.status_code == 302
    squatted.refresh_from_db()
    assert squatted.email_verified
    assert squatted.check_password(NEW_PASSWORD)
    assert not squatted.check_password(PASSWORD)
    assert signed_in_as(web, portal) == squatted.email


def test_accepting_on_a_portal_that_requires_mfa_goes_to_enrolment(web, portal, tenant, invite):
    portal.mfa_required = True
    portal.save(update_fields=["mfa_required"])
    link = invite("e.person@example.test")
    body = {"token": _link_fields(link)["token"], "password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    done = csrf_post(web, link, body)
    assert done.status_code == 302
    assert done["Location"] == f"/portal/{portal.slug}/login/enrol/"
    assert is_member(User.objects.get(email="e.person@example.test"), tenant)
    assert signed_in_as(web, portal) is None  # not before the second factor


def test_accepting_a_role_this_portal_does_not_admit_joins_and_sends_to_sign_in(web, portal, tenant, invite):
    portal.admitted_roles = ["owner", "admin"]
    portal.save(update_fields=["admitted_roles"])
    link = invite("f.person@example.test")
    body = {"token": _link_fields(link)["token"], "password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    done = csrf_post(web, link, body)
    assert done.status_code == 302
    assert done["Location"] == f"/portal/{portal.slug}/login/"
    assert "You have joined Acme Test." in messages_on(web, done["Location"])
    assert is_member(User.objects.get(email="f.person@example.test"), tenant)
    assert not AuthSession.objects.filter(user__email="f.person@example.test").exists()


def test_guessing_an_existing_accounts_password_at_an_invitation_meets_the_lockout(
    web, portal, tenant, other_tenant, member, invite
):
    someone = verified(member("member", of=other_tenant))
    link = invite(someone.email)
    token = _link_fields(link)["token"]
    statuses = [csrf_post(web, link, {"token": token, "password": f"guess number {n}"}).status_code for n in range(6)]
    assert statuses[:4] == [400] * 4
    assert statuses[-1] == 429
    locked = csrf_post(web, link, {"token": token, "password": PASSWORD})  # even the right one, while locked
    assert locked.status_code == 429
    assert "Try again in" in page_text(locked)
    assert int(locked["Retry-After"]) > 0
    assert not is_member(someone, tenant)
    with tenant_context(tenant):
        assert Invitation.objects.get().status == Invitation.Status.PENDING


def test_signed_in_as_b_an_invitation_for_a_never_attaches_b(web, portal, tenant, member, invite, portal_login):
    b = member()
    assert portal_login(b, portal).status_code == 302
    link = invite("a.person@example.test")
    token = _link_fields(link)["token"]

    # b posts their own e-mail and password into a's invitation: the form has no e-mail, and a has no account yet,
    # so the password b types becomes a's — a new account for a@, never a membership for b.
    done = csrf_post(
        web, link, {"token": token, "email": b.email, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    )
    assert done.status_code == 302
    a = User.objects.get(email="a.person@example.test")
    assert is_member(a, tenant)
    with tenant_context(tenant):
        assert Membership.objects.filter(user=b).count() == 1  # b's own, unchanged
    assert signed_in_as(web, portal) == a.email  # this browser is now a's, by a's new password


def test_an_existing_account_invited_cannot_be_taken_with_another_persons_password(
    web, portal, tenant, other_tenant, member, invite, portal_login
):
    a = verified(member("member", of=other_tenant))
    a.set_password("only a knows this passphrase 77")
    a.save()
    b = member()
    assert portal_login(b, portal).status_code == 302
    link = invite(a.email)
    token = _link_fields(link)["token"]
    # b, signed in here, posts their own e-mail and their own password into a's invitation.
    response = csrf_post(web, link, {"token": token, "email": b.email, "password": PASSWORD})
    assert response.status_code == 400
    assert "The password is wrong." in page_text(response)
    assert not is_member(a, tenant)
    with tenant_context(tenant):
        assert Membership.objects.filter(user=b).count() == 1  # b's own, nothing more
        assert Invitation.objects.get().status == Invitation.Status.PENDING
    assert signed_in_as(web, portal) == b.email  # still b


def test_an_invitation_opened_on_another_tenants_portal_is_a_dead_link(web, portal, other_portal, invite):
    link = invite("c.person@example.test").replace("/portal/acme-test/", f"/portal/{other_portal.slug}/")
    web.get(f"/portal/{other_portal.slug}/login/")  # the CSRF cookie (a dead link's page has no form)
    assert web.get(link).status_code == 400
    token = _link_fields(link)["token"]
    posted = csrf_post(web, link, {"token": token, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD})
    assert posted.status_code == 400
    assert not User.objects.filter(email="c.person@example.test").exists()


def test_a_revoked_invitation_is_refused(web, portal, tenant, member, invite):
    link = invite("d.person@example.test")
    with tenant_context(tenant):
        invitation = Invitation.objects.get()
        invitations.invitation_revoke(tenant=tenant, actor=invitation.invited_by, invitation_id=invitation.id)
    response = web.get(link)
    assert response.status_code == 400
    assert "invalid or has expired" in page_text(response)


@pytest.mark.parametrize("token", ["", "nope", "x" * 5000, "\u0442\u043e\u043a\u0435\u043d\u2603", "a\x00b", None])
def test_bad_invitation_tokens_are_refused_without_500(web, portal, token):
    path = f"/portal/{portal.slug}/invitations/accept/"
    web.get(f"/portal/{portal.slug}/login/")  # the CSRF cookie (a dead link's page has no form)
    query = {} if token is None else {"token": token}
    response = web.get(path, query)
    assert response.status_code == 400
    posted = csrf_post(web, path, {**query, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD})
    assert posted.status_code == 400
    assert NEW_PASSWORD not in page_text(posted)
