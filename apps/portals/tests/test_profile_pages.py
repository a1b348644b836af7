"""Profile page: the display name and a password change that keeps this browser and ends the other sessions."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.common.tenancy import tenant_context
from apps.identity.models import AuditEvent, AuthSession, User
from apps.identity.tests.factories import PASSWORD
from apps.portals.tests.conftest import csrf_post

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a much longer new passphrase 42"


def url(portal, rest: str = "") -> str:
    return f"/portal/{portal.slug}/profile/{rest}"


@pytest.fixture
def signed_in(web, portal, member, portal_login, rbac_seeded):
    def make(role: str = "member", client: Client | None = None, user=None):
        user = user or member(role=role)
        response = portal_login(user, portal, client=client)
        assert response.status_code == 302, response.content
        return user

    return make


def test_anonymous_visitors_go_to_the_login_page(web, portal, db):
    for rest in ("", "password/"):
        response = web.get(url(portal, rest))
        assert response.status_code == 302
        assert response["Location"].startswith(f"/portal/{portal.slug}/login/")


@pytest.mark.parametrize("role", ["member", "admin", "owner"])
def test_every_member_has_a_profile_page_in_the_navigation(web, portal, signed_in, role):
    user = signed_in(role)
    page = web.get(url(portal))
    assert page.status_code == 200
    assert f'href="{url(portal)}" aria-current="page">Profile</a>'.encode() in page.content
    assert user.email.encode() in page.content
    for label in ("Name", "Current password", "New password", "New password again"):
        assert f">{label}</label>".encode() in page.content


# --------------------------------------------------------------------------- name


def test_the_name_is_saved_and_audited(web, portal, tenant, signed_in):
    user = signed_in()
    response = csrf_post(web, url(portal), {"profile-name": "  Ada Lovelace  "})
    assert response.status_code == 302
    page = web.get(response["Location"])
    assert b"Name saved" in page.content
    assert b'value="Ada Lovelace"' in page.content
    user.refresh_from_db()
    assert user.name == "Ada Lovelace"
    with tenant_context(tenant):
        event = AuditEvent.objects.get(action="auth.name_changed")
    assert event.actor_id == user.id
    assert "Ada" not in str(event.data)


def test_the_name_may_be_cleared(web, portal, signed_in):
    user = signed_in()
    assert csrf_post(web, url(portal), {"profile-name": ""}).status_code == 302
    user.refresh_from_db()
    assert user.name == ""


@pytest.mark.parametrize("name", ["x" * 151, "nul\x00byte"])
def test_an_odd_name_is_a_form_error(web, portal, signed_in, name):
    user = signed_in()
    before = user.name
    response = csrf_post(web, url(portal), {"profile-name": name})
    assert response.status_code == 400
    assert b"field-error" in response.content
    user.refresh_from_db()
    assert user.name == before


def test_the_name_needs_the_csrf_token(web, portal, signed_in):
    user = signed_in()
    web.get(url(portal))
    assert web.post(url(portal), {"profile-name": "Mallory"}).status_code == 403
    user.refresh_from_db()
    assert user.name != "Mallory"


# --------------------------------------------------------------------------- password


def change(web, portal, current: str, new: str, again: str | None = None):
    return csrf_post(
        web,
        url(portal, "password/"),
        {
            "password-current_password": current,
            "password-new_password": new,
            "password-new_password_again": new if again is None else again,
        },
    )


def test_a_password_change_keeps_this_browser_and_ends_the_others(web, portal, signed_in, login):
    user = signed_in()
    other_browser = Client(enforce_csrf_checks=True)
    signed_in(user=user, client=other_browser)
    login(user, portal)  # and an API session
    response = change(web, portal, PASSWORD, NEW_PASSWORD)
    assert response.status_code == 302, response.content
    page = web.get(response["Location"])
    assert page.status_code == 200  # still signed in here
    assert b"Password changed." in page.content
    assert b"2 other sessions signed out" in page.content
    assert User.objects.get(id=user.id).check_password(NEW_PASSWORD)
    gone = other_browser.get(f"/portal/{portal.slug}/dashboard/")
    assert gone.status_code == 302
    assert gone["Location"].startswith(f"/portal/{portal.slug}/login/")
    assert AuthSession.objects.filter(user=user, revoked_at__isnull=True).count() == 1


def test_a_wrong_current_password_is_an_error_next_to_its_field(web, portal, signed_in):
    user = signed_in()
    response = change(web, portal, "not my password", NEW_PASSWORD)
    assert response.status_code == 400
    assert b'id="id_password-current_password_error">The current password is wrong.' in response.content
    assert User.objects.get(id=user.id).check_password(PASSWORD)


def test_a_weak_new_password_is_refused_by_the_validators(web, portal, signed_in):
    user = signed_in()
    response = change(web, portal, PASSWORD, "123")
    assert response.status_code == 400
    assert b'id="id_password-new_password_error"' in response.content
    assert User.objects.get(id=user.id).check_password(PASSWORD)


def test_the_two_new_passwords_must_match(web, portal, signed_in):
    user = signed_in()
    response = change(web, portal, PASSWORD, NEW_PASSWORD, again=NEW_PASSWORD + "!")
    assert response.status_code == 400
    assert b"The two new passwords differ." in response.content
    assert User.objects.get(id=user.id).check_password(PASSWORD)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"password-current_password": "x" * 5000, "password-new_password": "y", "password-new_password_again": "y"},
        {"password-current_password": "a\x00b", "password-new_password": NEW_PASSWORD},
    ],
)
def test_odd_password_input_is_a_form_error(web, portal, signed_in, data):
    user = signed_in()
    response = csrf_post(web, url(portal, "password/"), data)
    assert response.status_code == 400
    assert User.objects.get(id=user.id).check_password(PASSWORD)


def test_repeated_wrong_current_passwords_lock_with_the_wait(web, portal, signed_in):
    signed_in()
    statuses = [change(web, portal, f"wrong guess {i}", NEW_PASSWORD).status_code for i in range(12)]
    assert statuses[-1] == 429, statuses
    locked = change(web, portal, PASSWORD, NEW_PASSWORD)
    assert locked.status_code == 429
    assert b"Try again in" in locked.content


def test_the_password_change_needs_the_csrf_token(web, portal, signed_in):
    user = signed_in()
    web.get(url(portal))
    data = {
        "password-current_password": PASSWORD,
        "password-new_password": NEW_PASSWORD,
        "password-new_password_again": NEW_PASSWORD,
    }
    assert web.post(url(portal, "password/"), data).status_code == 403
    assert User.objects.get(id=user.id).check_password(PASSWORD)


def test_the_password_page_answers_only_post(web, portal, signed_in):
    signed_in()
    assert web.get(url(portal, "password/")).status_code == 405
