"""The portal base: per-portal browser sessions that every revocation ends, admission, CSRF, redirects, MFA."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from django.test import Client

from apps.identity.models import AuthSession, Portal, Tenant
from apps.identity.services import sessions
from apps.identity.services.accounts import user_deactivate
from apps.identity.services.tenants import tenant_suspend
from apps.identity.tests.factories import PASSWORD, PortalFactory, UserFactory, make_membership
from apps.identity.tests.mfa_support import code_for_secret, enable_mfa, forget_last_step, totp_code
from apps.portals.tests.conftest import csrf_post

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(web, portal, member, portal_login, rbac_seeded):
    """A member signed in to `portal` in the `web` client; returns the user."""
    user = member(role="member")
    assert portal_login(user, portal).status_code == 302
    return user


def dashboard(client: Client, portal: Portal):
    return client.get(f"/portal/{portal.slug}/dashboard/")


# --------------------------------------------------------------------------- per portal, admission


def test_signing_in_to_one_portal_does_not_open_another_of_the_same_tenant(web, portal, tenant, signed_in):
    other = PortalFactory(tenant=tenant, slug="acme-test-2", name="Second")
    assert dashboard(web, portal).status_code == 200
    response = dashboard(web, other)
    assert response.status_code == 302
    assert response["Location"].startswith("/portal/acme-test-2/login/")


def test_a_member_the_portal_does_not_admit_gets_the_403_page_and_no_session(
    web, tenant, member, portal_login, rbac_seeded
):
    staff = PortalFactory(tenant=tenant, slug="staff", name="Staff", admitted_roles=["owner", "admin"])
    user = member(role="member")
    response = portal_login(user, staff)
    assert response.status_code == 403
    assert b"Your role may not enter this portal." in response.content
    assert not AuthSession.objects.filter(user=user).exists()
    assert dashboard(web, staff).status_code == 302


def test_someone_of_another_tenant_cannot_sign_in(web, portal, other_tenant, portal_login, rbac_seeded):
    stranger = UserFactory(email="owner@globex.example")
    make_membership(user=stranger, tenant=other_tenant, role="owner")
    response = portal_login(stranger, portal)
    assert response.status_code == 403
    assert not AuthSession.objects.filter(user=stranger).exists()


def test_the_browser_session_is_a_session_of_the_api(web, portal, signed_in, api_client):
    browser = AuthSession.objects.get(user=signed_in, kind="browser", revoked_at__isnull=True)
    listed = api_client(signed_in, portal).get("/api/v1/identity/auth/sessions/").json()["results"]
    assert str(browser.id) in {s["id"] for s in listed}


# --------------------------------------------------------------------------- revocation at the next request


def _ended(client: Client, portal: Portal) -> None:
    response = dashboard(client, portal)
    assert response.status_code == 302
    assert "/login/" in response["Location"]
    page = client.get(response["Location"])
    assert b"Your session has ended" in page.content


def test_logout_elsewhere_ends_the_browser_session(web, portal, signed_in):
    session = AuthSession.objects.get(user=signed_in, kind="browser")
    sessions.session_revoke_own(user_id=signed_in.id, session_id=session.id)
    _ended(web, portal)


def test_member_removal_ends_it(web, portal, tenant, signed_in):
    sessions.sessions_revoke_for_member(tenant=tenant, user_id=signed_in.id, reason="member_removed")
    _ended(web, portal)


def test_revoke_all_of_the_user_ends_it(web, portal, signed_in):
    sessions.sessions_revoke_user(user=signed_in)
    _ended(web, portal)


def test_deactivation_and_suspension_end_it(web, portal, tenant, signed_in, member, portal_login):
    user_deactivate(user=signed_in)
    _ended(web, portal)
    second = Client(enforce_csrf_checks=True)
    other = member(role="admin")
    assert portal_login(other, portal, client=second).status_code == 302
    tenant_suspend(tenant=Tenant.objects.get(id=tenant.id), reason="test")
    assert dashboard(second, portal).status_code == 302


def test_a_revoked_session_stays_ended_after_its_cache_mark_expires(web, portal, signed_in, settings, monkeypatch):
    """Marks live as long as an access token; the browser claims are then renewed from the session row."""
    session = AuthSession.objects.get(user=signed_in, kind="browser")
    sessions.session_revoke_own(user_id=signed_in.id, session_id=session.id)
    cache.clear()  # every revocation mark has expired
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + settings.ACCESS_TOKEN_LIFETIME.total_seconds() + 5)
    assert dashboard(web, portal).status_code == 302


def test_due_claims_are_renewed_while_the_session_is_live(web, portal, signed_in, settings, monkeypatch):
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + settings.ACCESS_TOKEN_LIFETIME.total_seconds() + 5)
    assert dashboard(web, portal).status_code == 200
    session = AuthSession.objects.get(user=signed_in, kind="browser")
    assert session.revoked_at is None


def test_renewal_refuses_a_member_who_lost_admission(
    web, tenant, member, portal_login, rbac_seeded, settings, monkeypatch
):
    staff = PortalFactory(tenant=tenant, slug="staff", name="Staff", admitted_roles=["owner", "admin"])
    user = member(role="admin")
    assert portal_login(user, staff).status_code == 302
    Portal.objects.filter(id=staff.id).update(admitted_roles=["owner"])  # behind the service's back: no marks
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + settings.ACCESS_TOKEN_LIFETIME.total_seconds() + 5)
    assert dashboard(web, staff).status_code == 302
    assert AuthSession.objects.get(user=user).revoke_reason == "access_lost"


# --------------------------------------------------------------------------- cookies, CSRF, redirects, sign-out


def test_sign_in_rotates_the_session_key_and_sets_safe_cookies(web, portal, member, portal_login, rbac_seeded):
    user = member()
    web.get(f"/portal/{portal.slug}/login/")
    web.session["probe"] = 1  # an anonymous session exists before sign-in
    web.session.save()
    before = web.cookies["sessionid"].value if "sessionid" in web.cookies else web.session.session_key
    response = portal_login(user, portal)
    cookie = response.cookies["sessionid"]
    assert cookie.value != before
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["secure"] is True  # outside debug


def test_the_login_form_needs_its_csrf_token(web, portal, member, rbac_seeded):
    user = member()
    response = web.post(f"/portal/{portal.slug}/login/", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 403
    assert not AuthSession.objects.filter(user=user).exists()


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/", "/\\evil.example", "/portal/other/dashboard/", "javascript:alert(1)"],
)
def test_next_never_leaves_the_portal(web, portal, member, rbac_seeded, target):
    user = member()
    path = f"/portal/{portal.slug}/login/?next={target}"
    response = csrf_post(web, path, {"email": user.email, "password": PASSWORD, "next": target})
    assert response.status_code == 302
    assert response["Location"] == f"/portal/{portal.slug}/dashboard/"


def test_next_within_the_portal_is_followed(web, portal, member, rbac_seeded):
    user = member()
    target = f"/portal/{portal.slug}/dashboard/?tab=1"
    response = csrf_post(
        web, f"/portal/{portal.slug}/login/", {"email": user.email, "password": PASSWORD, "next": target}
    )
    assert response["Location"] == target


def test_sign_out_is_a_post_and_ends_the_session(web, portal, signed_in):
    assert web.get(f"/portal/{portal.slug}/logout/").status_code == 405
    response = csrf_post(web, f"/portal/{portal.slug}/dashboard/", {})  # dashboard takes no POST
    assert response.status_code == 405
    token = web.cookies["csrftoken"].value
    response = web.post(f"/portal/{portal.slug}/logout/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert AuthSession.objects.get(user=signed_in).revoke_reason == "logout"
    assert dashboard(web, portal).status_code == 302


def test_sign_out_without_csrf_is_refused(web, portal, signed_in):
    assert web.post(f"/portal/{portal.slug}/logout/").status_code == 403
    assert AuthSession.objects.get(user=signed_in).revoked_at is None


# --------------------------------------------------------------------------- lockout, MFA


def test_lockout_says_how_long_and_refuses_the_right_password(web, portal, member, portal_login, rbac_seeded):
    user = member()
    for _ in range(5):
        assert portal_login(user, portal, password="wrong password!").status_code == 400
    locked = portal_login(user, portal)
    assert locked.status_code == 429
    assert b"Try again in" in locked.content
    assert not AuthSession.objects.filter(user=user).exists()


def test_sign_in_with_a_totp_code_then_a_backup_code_once(web, portal, member, portal_login, rbac_seeded):
    user = member()
    backup = enable_mfa(user)
    response = portal_login(user, portal)
    assert response["Location"] == f"/portal/{portal.slug}/login/code/"
    page = web.get(response["Location"])
    assert b'<label for="id_code">Code</label>' in page.content
    wrong = csrf_post(web, response["Location"], {"code": "000000" if totp_code(user) != "000000" else "111111"})
    assert wrong.status_code == 400
    forget_last_step(user)  # enabling used this step; a new 30 s window would do the same
    done = csrf_post(web, response["Location"], {"code": totp_code(user)})
    assert done["Location"] == f"/portal/{portal.slug}/dashboard/"
    assert AuthSession.objects.get(user=user, revoked_at__isnull=True).amr == ["pwd", "otp"]

    other = Client(enforce_csrf_checks=True)
    for attempt in (1, 2):
        assert portal_login(user, portal, client=other).status_code == 302
        result = csrf_post(other, f"/portal/{portal.slug}/login/code/", {"code": backup[0]})
        if attempt == 1:
            assert result["Location"].endswith("/dashboard/")
            csrf_post(other, f"/portal/{portal.slug}/logout/")
        else:
            assert result.status_code == 400  # a backup code works once


def test_a_portal_requiring_mfa_enrols_the_user_at_sign_in(web, tenant, member, portal_login, rbac_seeded):
    strict = PortalFactory(tenant=tenant, slug="strict", name="Strict", mfa_required=True)
    user = member()
    response = portal_login(user, strict)
    assert response["Location"] == "/portal/strict/login/enrol/"
    page = web.get(response["Location"])
    assert b"<svg" in page.content
    secret = page.content.decode().split('data-testid="totp-secret">')[1].split("<")[0]
    assert not AuthSession.objects.filter(user=user).exists()
    done = csrf_post(web, "/portal/strict/login/enrol/", {"code": code_for_secret(secret)})
    # (csrf_post's GET started a new setup: the secret changed, so this code is for the old one)
    assert done.status_code == 302
    page = web.get("/portal/strict/login/enrol/")
    secret = page.content.decode().split('data-testid="totp-secret">')[1].split("<")[0]
    token = web.cookies["csrftoken"].value
    done = web.post("/portal/strict/login/enrol/", {"code": code_for_secret(secret), "csrfmiddlewaretoken": token})
    assert done.status_code == 200
    assert b'data-testid="backup-codes"' in done.content
    assert dashboard(web, strict).status_code == 200
    assert AuthSession.objects.get(user=user).amr == ["pwd", "otp"]


def test_the_code_page_without_a_pending_sign_in_goes_to_login(web, portal):
    assert web.get(f"/portal/{portal.slug}/login/code/")["Location"] == f"/portal/{portal.slug}/login/"
    assert web.get(f"/portal/{portal.slug}/login/enrol/")["Location"] == f"/portal/{portal.slug}/login/"


# --------------------------------------------------------------------------- pages, input


def test_landing_page_names_no_tenant_and_goes_to_a_portal(web, portal):
    page = web.get("/")
    assert page.status_code == 200
    assert portal.name.encode() not in page.content
    assert web.get("/", {"portal": portal.slug})["Location"] == f"/portal/{portal.slug}/login/"
    assert web.get("/", {"portal": "<script>"}).status_code == 400


def test_theme_stylesheet_carries_the_portal_colour(web, tenant):
    themed = PortalFactory(tenant=tenant, slug="themed", name="Themed", theme={"primary_color": "#ffcc00"})
    css = web.get("/portal/themed/theme.css")
    assert css["Content-Type"].startswith("text/css")
    assert b"--primary: #ffcc00" in css.content
    assert b"--on-primary: #111111" in css.content  # dark text on a light colour
    assert themed.slug.encode() not in css.content


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"email": "x" * 5000, "password": "y"},
        {"email": "\x00@x", "password": "\u2603" * 2000},
        {"email": ["a", "b"]},
    ],
)
def test_odd_login_input_is_a_form_error_not_a_500(web, portal, rbac_seeded, data):
    response = csrf_post(web, f"/portal/{portal.slug}/login/", data)
    assert response.status_code == 400


def test_dashboard_queries_do_not_grow_with_the_tenant(web, portal, tenant, signed_in, django_assert_max_num_queries):
    for i in range(30):
        make_membership(user=UserFactory(email=f"bulk{i}@example.com"), tenant=tenant)
    # 9 in part 1 (the tenant row now comes with the portal: -1); part 2 adds the plan's features, read once
    # for the navigation's feature-gated entries and the onboarding card, and the checklist (1 here, no flow).
    with django_assert_max_num_queries(10):
        assert dashboard(web, portal).status_code == 200


def test_the_old_session_cookie_is_dead_after_sign_out(web, portal, signed_in):
    old = web.cookies["sessionid"].value
    assert csrf_post(web, f"/portal/{portal.slug}/logout/").status_code == 302
    replay = Client()
    replay.cookies["sessionid"] = old
    assert dashboard(replay, portal).status_code == 302


def test_names_with_markup_are_escaped_on_pages(web, tenant, member, portal_login, rbac_seeded):
    evil = PortalFactory(tenant=tenant, slug="evil", name="<script>alert(1)</script>")
    Tenant.objects.filter(id=tenant.id).update(name="<img src=x onerror=alert(2)>")
    user = member()
    assert portal_login(user, evil).status_code == 302
    page = dashboard(web, evil).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page
