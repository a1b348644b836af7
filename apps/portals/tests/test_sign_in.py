"""Signing in to a portal with the browser's session: per portal, revocable, admission enforced."""

from __future__ import annotations

import pytest

from apps.identity.models import AuthSession

pytestmark = pytest.mark.django_db


def test_anonymous_dashboard_goes_to_the_login_page(web, portal):
    response = web.get(f"/portal/{portal.slug}/dashboard/")
    assert response.status_code == 302
    assert response["Location"].startswith(f"/portal/{portal.slug}/login/?next=")


def test_unknown_portal_is_the_404_page(web, db):
    response = web.get("/portal/nope/login/")
    assert response.status_code == 404
    assert b"There is no portal at this address." in response.content


def test_sign_in_opens_the_dashboard_with_portal_and_email(web, portal, member, portal_login, rbac_seeded):
    user = member(role="member")
    response = portal_login(user, portal)
    assert response.status_code == 302, response.content
    assert response["Location"] == f"/portal/{portal.slug}/dashboard/"
    page = web.get(response["Location"])
    assert page.status_code == 200
    assert portal.name.encode() in page.content
    assert user.email.encode() in page.content
    session = AuthSession.objects.get(user=user)
    assert session.kind == AuthSession.Kind.BROWSER


def test_wrong_password_shows_the_error_next_to_the_form(web, portal, member, portal_login, rbac_seeded):
    user = member(role="member")
    response = portal_login(user, portal, password="not the password at all")
    assert response.status_code == 400
    assert b"The e-mail or password is wrong." in response.content
    assert not AuthSession.objects.filter(user=user).exists()
