"""The forgot-password form and the reset / set-password link it mails, and the login page's links to them.

Each link is followed from a real mail (Django's outbox, delivered as after a commit), works once, refuses bad
tokens without a 500, and cannot be bent to set another person's password. Helpers: `account_support`.
"""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client

from apps.identity.models import AuthSession, Portal, User
from apps.identity.services.tenants import tenant_create
from apps.identity.tests.factories import PASSWORD
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


# --------------------------------------------------------------------------- the login page's links


def test_login_page_links_to_forgot_password_and_to_signup_only_when_open(web, portal):
    page = page_text(web.get(f"/portal/{portal.slug}/login/"))
    assert f'href="/portal/{portal.slug}/password/reset/"' in page
    assert "/signup/" not in page
    portal.signup_policy = Portal.SignupPolicy.OPEN
    portal.save(update_fields=["signup_policy"])
    page = page_text(web.get(f"/portal/{portal.slug}/login/"))
    assert f'href="/portal/{portal.slug}/signup/"' in page
    assert "Create an account" in page


# --------------------------------------------------------------------------- password reset


def test_forgot_password_mails_a_link_that_sets_the_password_once(web, portal, member, committed, portal_login):
    user = member()
    forgot = f"/portal/{portal.slug}/password/reset/"
    page = web.get(forgot)
    assert page.status_code == 200
    assert '<label for="id_email">Email</label>' in page_text(page)
    assert "no-store" in page["Cache-Control"]

    with committed():
        known = csrf_post(web, forgot, {"email": user.email.upper()})
        unknown = csrf_post(web, forgot, {"email": "nobody@example.test"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == f"/portal/{portal.slug}/login/"
    assert {tuple(m.to) for m in mail.outbox} == {(user.email,)}
    assert "a reset link is on its way" in messages_on(web, known["Location"])

    link = mailed_link(user.email, "password/reset")
    assert link.startswith(f"/portal/{portal.slug}/password/reset/?uid=")
    reader = Client(enforce_csrf_checks=True)
    form = reader.get(link)
    assert form.status_code == 200
    assert user.email in page_text(form)
    assert '<label for="id_new_password">New password</label>' in page_text(form)

    differ = csrf_post(reader, link, {**_link_fields(link), "new_password": NEW_PASSWORD, "new_password_again": "x"})
    assert differ.status_code == 400
    assert "The two passwords differ." in page_text(differ)
    assert NEW_PASSWORD not in page_text(differ)  # never echoed back
    weak = csrf_post(reader, link, {**_link_fields(link), "new_password": "123", "new_password_again": "123"})
    assert weak.status_code == 400
    assert 'class="field-error" id="id_new_password_error"' in page_text(weak)

    done = csrf_post(
        reader, link, {**_link_fields(link), "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD}
    )
    assert done.status_code == 302, page_text(done)
    assert done["Location"] == f"/portal/{portal.slug}/login/"
    assert "Your password is set" in messages_on(reader, done["Location"])

    # Once: the same link is now dead, to look at and to post.
    again = reader.get(link)
    assert again.status_code == 400
    assert "invalid, used or expired" in page_text(again)
    assert f'action="/portal/{portal.slug}/password/reset/"' in page_text(again)  # a way to get a new one
    reused = csrf_post(
        reader,
        link,
        {
            **_link_fields(link),
            "new_password": "another passphrase 99 x",
            "new_password_again": "another passphrase 99 x",
        },
    )
    assert reused.status_code == 400
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)

    assert portal_login(user, portal, password=PASSWORD).status_code == 400
    assert portal_login(user, portal, password=NEW_PASSWORD)["Location"] == f"/portal/{portal.slug}/dashboard/"
    assert signed_in_as(web, portal) == user.email


def test_a_reset_ends_the_users_browser_sessions(web, portal, member, committed, portal_login):
    user = member()
    assert portal_login(user, portal).status_code == 302
    assert signed_in_as(web, portal) == user.email

    other = Client(enforce_csrf_checks=True)
    with committed():
        csrf_post(other, f"/portal/{portal.slug}/password/reset/", {"email": user.email})
    link = mailed_link(user.email, "password/reset")
    with committed():
        done = csrf_post(
            other, link, {**_link_fields(link), "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD}
        )
    assert done.status_code == 302

    # The first browser's next page sends it to sign in again.
    response = web.get(f"/portal/{portal.slug}/dashboard/")
    assert response.status_code == 302
    assert response["Location"].startswith(f"/portal/{portal.slug}/login/")
    assert not AuthSession.objects.filter(user=user, revoked_at__isnull=True).exists()


def test_one_users_reset_link_cannot_set_another_users_password(web, portal, member, committed):
    alice, bob = member(), member()
    with committed():
        csrf_post(web, f"/portal/{portal.slug}/password/reset/", {"email": alice.email})
        csrf_post(web, f"/portal/{portal.slug}/password/reset/", {"email": bob.email})
    a, b = (
        _link_fields(mailed_link(alice.email, "password/reset")),
        _link_fields(mailed_link(bob.email, "password/reset")),
    )
    path = f"/portal/{portal.slug}/password/reset/"
    for uid, token in ((a["uid"], b["token"]), (b["uid"], a["token"])):
        assert web.get(path, {"uid": uid, "token": token}).status_code == 400
        response = csrf_post(
            web,
            f"{path}?uid={uid}&token={token}",
            {"uid": uid, "token": token, "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD},
        )
        assert response.status_code == 400
    for user in (alice, bob):
        user.refresh_from_db()
        assert user.check_password(PASSWORD)


def test_the_set_password_link_of_a_new_owner_works_once_then_signs_in(web, db, committed, portal_login):
    with committed():
        created = tenant_create(slug="hooli", name="Hooli", owner_email="gavin@hooli.test")
    owner = User.objects.get(email="gavin@hooli.test")
    assert not owner.has_usable_password()
    link = mailed_link(owner.email, "password/reset")
    assert link.startswith("/portal/hooli/password/reset/?uid=")
    assert web.get(link).status_code == 200
    done = csrf_post(
        web, link, {**_link_fields(link), "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD}
    )
    assert done.status_code == 302
    assert web.get(link).status_code == 400
    portal = Portal.objects.get(slug="hooli")
    assert portal.tenant_id == created.tenant.id
    assert portal_login(owner, portal, password=NEW_PASSWORD)["Location"] == "/portal/hooli/dashboard/"


@pytest.mark.parametrize(
    "query",
    [
        {"uid": "", "token": ""},
        {"uid": "x"},
        {"token": "y"},
        {"uid": "MQ", "token": "set-password"},
        {"uid": "é" * 50, "token": "☃-☃"},
        {"uid": "A" * 5000, "token": "B" * 5000},
        {"uid": "a\x00b", "token": "c\x00d"},
        {"uid": "Tk9UQVVVSUQ", "token": "abc-def"},
    ],
)
def test_bad_reset_links_are_refused_without_500(web, portal, query):
    path = f"/portal/{portal.slug}/password/reset/"
    response = web.get(path, query)
    assert response.status_code == 400
    assert "invalid, used or expired" in page_text(response)
    posted = csrf_post(web, path, {**query, "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD})
    assert posted.status_code == 400
    assert NEW_PASSWORD not in page_text(posted)


def test_forgot_password_is_throttled_with_the_wait(web, portal):
    path = f"/portal/{portal.slug}/password/reset/"
    for _ in range(20):  # the API's password_reset rate: 20/hour per client IP, shared with the API
        assert csrf_post(web, path, {"email": "someone@example.test"}).status_code == 302
    response = csrf_post(web, path, {"email": "someone@example.test"})
    assert response.status_code == 429
    assert "Try again in" in page_text(response)
