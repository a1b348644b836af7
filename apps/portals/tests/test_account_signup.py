"""Open sign-up: the form, the verification link it mails, the same answer for a known address, closed portals.

Helpers: `account_support`; fixtures (`open_portal`, `committed`): conftest.
"""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client

from apps.identity.models import Portal, Tenant, User
from apps.identity.tests.factories import PASSWORD, PortalFactory, TenantFactory
from apps.portals.tests.account_support import (
    NEW_PASSWORD,
    _link_fields,
    mailed_link,
    messages_on,
    page_text,
    signed_in_as,
)
from apps.portals.tests.conftest import csrf_post

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded")]


# --------------------------------------------------------------------------- sign-up and e-mail verification


def test_signup_mails_a_verification_link_that_confirms_once_then_sign_in(web, open_portal, committed, portal_login):
    path = f"/portal/{open_portal.slug}/signup/"
    page = web.get(path)
    assert page.status_code == 200
    assert '<label for="id_password">Password</label>' in page_text(page)
    with committed():
        response = csrf_post(
            web,
            path,
            {
                "email": "Newbie@Example.test",
                "name": "New Bie",
                "password": NEW_PASSWORD,
                "password_again": NEW_PASSWORD,
            },
        )
    assert response.status_code == 302, page_text(response)
    assert response["Location"] == f"/portal/{open_portal.slug}/login/"
    assert "a message is on its way" in messages_on(web, response["Location"])
    user = User.objects.get(email__iexact="newbie@example.test")
    assert not user.email_verified
    # Not before the address is confirmed.
    refused = portal_login(user, open_portal, password=NEW_PASSWORD)
    assert refused.status_code == 403
    assert "Confirm your e-mail address first" in page_text(refused)

    link = mailed_link(user.email, "email/verify")
    assert link.startswith(f"/portal/{open_portal.slug}/email/verify/?key=")
    reader = Client(enforce_csrf_checks=True)
    shown = reader.get(link)
    assert shown.status_code == 200
    assert "Confirm my address" in page_text(shown)
    user.refresh_from_db()
    assert not user.email_verified  # opening the link (a mail scanner, say) confirms nothing

    confirmed = csrf_post(reader, link, {"key": _link_fields(link)["key"]})
    assert confirmed.status_code == 302
    assert confirmed["Location"] == f"/portal/{open_portal.slug}/login/"
    assert "Your e-mail address is confirmed" in messages_on(reader, confirmed["Location"])
    user.refresh_from_db()
    assert user.email_verified

    again = csrf_post(reader, link, {"key": _link_fields(link)["key"]})
    assert again.status_code == 400
    assert "invalid, used or expired" in page_text(again)
    assert f'action="/portal/{open_portal.slug}/email/resend/"' in page_text(again)

    assert (
        portal_login(user, open_portal, password=NEW_PASSWORD)["Location"] == f"/portal/{open_portal.slug}/dashboard/"
    )
    assert signed_in_as(web, open_portal) == user.email


def test_signup_answers_the_same_for_a_known_address(web, open_portal, member, committed):
    known = member()
    path = f"/portal/{open_portal.slug}/signup/"
    body = {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    with committed():
        first = csrf_post(web, path, {**body, "email": known.email})
        second = csrf_post(web, path, {**body, "email": "fresh@example.test"})
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    known.refresh_from_db()
    assert known.check_password(PASSWORD)  # nothing of the account changed
    assert [m.to for m in mail.outbox if "email/verify" in m.body] == [["fresh@example.test"]]


def test_signup_form_errors_are_next_to_their_fields(web, open_portal):
    path = f"/portal/{open_portal.slug}/signup/"
    weak = csrf_post(web, path, {"email": "w@example.test", "password": "password", "password_again": "password"})
    assert weak.status_code == 400
    assert 'id="id_password_error"' in page_text(weak)
    differ = csrf_post(web, path, {"email": "w@example.test", "password": NEW_PASSWORD, "password_again": "other"})
    assert differ.status_code == 400
    assert 'id="id_password_again_error"' in page_text(differ)
    assert NEW_PASSWORD not in page_text(differ)
    assert not User.objects.filter(email="w@example.test").exists()


@pytest.mark.parametrize("policy", [Portal.SignupPolicy.CLOSED, Portal.SignupPolicy.INVITE])
def test_signup_on_a_portal_that_is_not_open_says_it_is_by_invitation(web, portal, policy):
    portal.signup_policy = policy
    portal.save(update_fields=["signup_policy"])
    path = f"/portal/{portal.slug}/signup/"
    page = web.get(path)
    assert page.status_code == 403
    assert "Sign-up is by invitation" in page_text(page)
    posted = csrf_post(web, path, {"email": "x@example.test", "password": NEW_PASSWORD, "password_again": NEW_PASSWORD})
    assert posted.status_code == 403
    assert not User.objects.filter(email="x@example.test").exists()


def test_signup_on_a_suspended_tenant_is_the_closed_page(web, db):
    tenant = TenantFactory(slug="sleepy", name="Sleepy", status=Tenant.Status.SUSPENDED)
    portal = PortalFactory(tenant=tenant, slug="sleepy", signup_policy=Portal.SignupPolicy.OPEN)
    body = {"email": "z@example.test", "password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    response = csrf_post(web, f"/portal/{portal.slug}/signup/", body)
    assert response.status_code == 403
    assert not User.objects.filter(email="z@example.test").exists()
