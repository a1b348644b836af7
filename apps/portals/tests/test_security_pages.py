"""Security page: TOTP enrolment with the QR code, backup codes, disabling, and live sessions with revoke."""

from __future__ import annotations

import re
import uuid

import pytest
from django.test import Client

from apps.identity.models import AuthSession, BackupCode
from apps.identity.selectors.accounts import user_mfa_enabled
from apps.identity.tests.factories import PortalFactory, UserFactory, make_membership
from apps.identity.tests.mfa_support import code_for_secret, device_of, enable_mfa, totp_code, use_mfa_clock, wrong_code
from apps.portals.tests.conftest import csrf_post

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clock(monkeypatch):
    return use_mfa_clock(monkeypatch)


def url(portal, rest: str = "") -> str:
    return f"/portal/{portal.slug}/security/{rest}"


@pytest.fixture
def signed_in(web, portal, member, portal_login, rbac_seeded):
    def make(role: str = "member", client: Client | None = None, user=None):
        user = user or member(role=role)
        response = portal_login(user, portal, client=client)
        assert response.status_code == 302, response.content
        return user

    return make


def backup_codes_in(content: bytes) -> list[str]:
    block = re.search(rb'data-testid="backup-codes">(.*?)</ul>', content, re.S)
    assert block is not None
    return [c.decode() for c in re.findall(rb"<code>([^<]+)</code>", block.group(1))]


# --------------------------------------------------------------------------- access


def test_anonymous_visitors_go_to_the_login_page(web, portal, db):
    for rest in ("", "totp/", "totp/confirm/", "totp/disable/", "backup-codes/", f"sessions/{uuid.uuid4()}/revoke/"):
        response = web.get(url(portal, rest))
        assert response.status_code == 302
        assert response["Location"].startswith(f"/portal/{portal.slug}/login/")


@pytest.mark.parametrize("role", ["member", "admin", "owner"])
def test_every_member_has_a_security_page_linked_in_the_navigation(web, portal, signed_in, role):
    signed_in(role)
    page = web.get(url(portal))
    assert page.status_code == 200
    assert page["Cache-Control"].startswith("max-age=0") or "no-cache" in page["Cache-Control"]
    assert f'href="{url(portal)}" aria-current="page">Security</a>'.encode() in page.content
    assert b"Two-factor sign-in is <strong>off</strong>" in page.content


# --------------------------------------------------------------------------- enrolment end to end


def test_totp_enrolment_end_to_end(web, portal, signed_in):
    user = signed_in()
    security = web.get(url(portal))
    assert f'action="{url(portal, "totp/")}"'.encode() in security.content
    intro = web.get(url(portal, "totp/"))  # a GET shows the way in and changes nothing
    assert intro.status_code == 200
    assert b"totp-secret" not in intro.content
    assert device_of(user) is None

    start = csrf_post(web, url(portal, "totp/"))
    assert start.status_code == 200
    assert "no-store" in start["Cache-Control"]
    assert b"<svg" in start.content
    secret = re.search(rb'data-testid="totp-secret">([A-Z2-7]+)<', start.content)
    assert secret is not None
    assert b'<label for="id_code">Code</label>' in start.content
    assert f'action="{url(portal, "totp/confirm/")}"'.encode() in start.content
    assert not user_mfa_enabled(user=user)
    # The code the app computes from the key on the page is the one the server accepts.
    assert code_for_secret(secret.group(1).decode()) == totp_code(user)

    wrong = csrf_post(web, url(portal, "totp/confirm/"), {"code": wrong_code(user)})
    assert wrong.status_code == 400
    assert b"field-error" in wrong.content
    assert b"totp-secret" not in wrong.content  # the key is shown once
    assert not user_mfa_enabled(user=user)

    done = csrf_post(web, url(portal, "totp/confirm/"), {"code": code_for_secret(secret.group(1).decode())})
    assert done.status_code == 200, done.content
    assert "no-store" in done["Cache-Control"]
    assert b"Two-factor enabled" in done.content
    codes = backup_codes_in(done.content)
    assert len(codes) == 10
    assert user_mfa_enabled(user=user)

    page = web.get(url(portal))
    assert b"Two-factor sign-in is <strong>on</strong>. Backup codes left: 10." in page.content
    assert codes[0].encode() not in page.content  # shown once only
    assert web.get(f"/portal/{portal.slug}/dashboard/").status_code == 200  # still signed in


def test_starting_again_while_on_is_refused_by_the_service(web, portal, signed_in):
    user = signed_in()
    enable_mfa(user)
    response = csrf_post(web, url(portal, "totp/"))
    assert response.status_code == 302
    assert b"already on" in web.get(response["Location"]).content


def test_confirm_without_a_started_enrolment_says_so(web, portal, signed_in):
    signed_in()
    response = csrf_post(web, url(portal, "totp/confirm/"), {"code": "123456"})
    assert response.status_code == 302
    assert b"No authenticator is waiting" in web.get(response["Location"]).content


@pytest.mark.parametrize("code", ["", " ", "x" * 500, "12\x0034", "<b>1</b>"])
def test_odd_codes_never_500(web, portal, signed_in, code):
    user = signed_in()
    csrf_post(web, url(portal, "totp/"))
    response = csrf_post(web, url(portal, "totp/confirm/"), {"code": code})
    assert response.status_code == 400
    assert not user_mfa_enabled(user=user)
    enable_mfa(user)
    assert csrf_post(web, url(portal, "totp/disable/"), {"code": code}).status_code == 400
    assert csrf_post(web, url(portal, "backup-codes/"), {"code": code}).status_code == 400
    assert user_mfa_enabled(user=user)


def test_repeated_wrong_codes_lock_with_the_429_page(web, portal, signed_in, settings):
    user = signed_in()
    enable_mfa(user)
    statuses = [csrf_post(web, url(portal, "totp/disable/"), {"code": wrong_code(user)}).status_code for _ in range(12)]
    assert 429 in statuses
    assert set(statuses) <= {400, 429}
    locked = csrf_post(web, url(portal, "totp/disable/"), {"code": totp_code(user)})
    assert locked.status_code == 429
    assert b"Try again in" in locked.content
    assert user_mfa_enabled(user=user)


# --------------------------------------------------------------------------- backup codes and disabling


def test_new_backup_codes_need_a_current_code_and_replace_the_old_ones(web, portal, signed_in):
    user = signed_in()
    old = enable_mfa(user)
    form = web.get(url(portal, "backup-codes/"))
    assert form.status_code == 200
    assert b'<label for="id_code">Code</label>' in form.content
    assert csrf_post(web, url(portal, "backup-codes/"), {"code": old[0]}).status_code == 400  # not a backup code
    response = csrf_post(web, url(portal, "backup-codes/"), {"code": totp_code(user, steps_ahead=1)})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert b"New backup codes created" in response.content
    new = backup_codes_in(response.content)
    assert len(new) == 10
    assert not set(new) & set(old)
    assert BackupCode.objects.filter(user=user, used_at__isnull=True).count() == 10


def test_backup_codes_without_mfa_say_it_is_off(web, portal, signed_in):
    signed_in()
    response = csrf_post(web, url(portal, "backup-codes/"), {"code": "123456"})
    assert response.status_code == 302
    assert b"not on" in web.get(response["Location"]).content


def test_disable_with_a_code(web, portal, signed_in):
    user = signed_in()
    enable_mfa(user)
    form = web.get(url(portal, "totp/disable/"))
    assert b'<label for="id_code">Code</label>' in form.content
    assert csrf_post(web, url(portal, "totp/disable/"), {"code": wrong_code(user)}).status_code == 400
    assert user_mfa_enabled(user=user)
    response = csrf_post(web, url(portal, "totp/disable/"), {"code": totp_code(user, steps_ahead=1)})
    assert response.status_code == 302
    assert not user_mfa_enabled(user=user)
    assert b"Two-factor disabled" in web.get(response["Location"]).content


def test_disable_with_a_backup_code(web, portal, signed_in):
    user = signed_in()
    codes = enable_mfa(user)
    response = csrf_post(web, url(portal, "totp/disable/"), {"code": codes[3]})
    assert response.status_code == 302
    assert not user_mfa_enabled(user=user)


def test_mfa_posts_without_the_csrf_token_are_refused(web, portal, signed_in):
    user = signed_in()
    assert web.post(url(portal, "totp/")).status_code == 403
    assert device_of(user) is None
    csrf_post(web, url(portal, "totp/"))
    assert web.post(url(portal, "totp/confirm/"), {"code": totp_code(user)}).status_code == 403
    assert not user_mfa_enabled(user=user)
    enable_mfa(user)
    assert web.post(url(portal, "totp/disable/"), {"code": totp_code(user)}).status_code == 403
    assert web.post(url(portal, "backup-codes/"), {"code": totp_code(user)}).status_code == 403
    assert user_mfa_enabled(user=user)


# --------------------------------------------------------------------------- sessions


def test_the_sessions_list_marks_this_browser_and_shows_api_sessions(web, portal, signed_in, login):
    user = signed_in()
    login(user, portal)  # an API session too
    other_browser = Client(enforce_csrf_checks=True)
    signed_in(user=user, client=other_browser)
    page = web.get(url(portal))
    assert page.content.count(b'data-testid="session-row"') == 3
    assert page.content.count(b'data-current="true"') == 1
    assert b"This browser" in page.content
    assert b"App (API)" in page.content
    current = AuthSession.objects.filter(user=user, kind=AuthSession.Kind.BROWSER).order_by("created_at").first()
    assert f'data-session="{current.id}" data-current="true"'.encode() in page.content


def test_revoking_another_browser_signs_it_out_at_its_next_request(web, portal, signed_in):
    user = signed_in()
    other_browser = Client(enforce_csrf_checks=True)
    signed_in(user=user, client=other_browser)
    assert other_browser.get(f"/portal/{portal.slug}/dashboard/").status_code == 200
    theirs = AuthSession.objects.filter(user=user, kind=AuthSession.Kind.BROWSER).order_by("-created_at").first()
    page = web.get(url(portal))
    revoke = url(portal, f"sessions/{theirs.id}/revoke/")
    assert revoke.encode() in page.content

    confirm = web.get(revoke)
    assert confirm.status_code == 200
    assert b'method="post"' in confirm.content
    theirs.refresh_from_db()
    assert theirs.revoked_at is None  # asking ended nothing

    response = csrf_post(web, revoke)
    assert response.status_code == 302
    assert b"Session signed out" in web.get(response["Location"]).content
    theirs.refresh_from_db()
    assert theirs.revoked_at is not None

    gone = other_browser.get(f"/portal/{portal.slug}/dashboard/")
    assert gone.status_code == 302
    assert gone["Location"].startswith(f"/portal/{portal.slug}/login/")
    assert web.get(f"/portal/{portal.slug}/dashboard/").status_code == 200  # this one stays


def test_another_users_session_is_404_and_untouched(web, portal, signed_in, other_tenant, login):
    signed_in()
    stranger = UserFactory()
    make_membership(user=stranger, tenant=other_tenant, role="member")
    their_portal = PortalFactory(tenant=other_tenant, slug="globex-test", is_default=True)
    login(stranger, their_portal)
    theirs = AuthSession.objects.get(user=stranger)
    revoke = url(portal, f"sessions/{theirs.id}/revoke/")
    assert web.get(revoke).status_code == 404
    assert csrf_post(web, revoke).status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


@pytest.mark.parametrize("bad", ["nope", "0", str(uuid.uuid4()), "é" * 40])
def test_odd_session_ids_are_404(web, portal, signed_in, bad):
    signed_in()
    assert web.get(url(portal, f"sessions/{bad}/revoke/")).status_code == 404
    assert csrf_post(web, url(portal, f"sessions/{bad}/revoke/")).status_code == 404


def test_revoking_without_the_csrf_token_is_refused(web, portal, signed_in):
    user = signed_in()
    other_browser = Client(enforce_csrf_checks=True)
    signed_in(user=user, client=other_browser)
    theirs = AuthSession.objects.filter(user=user).order_by("-created_at").first()
    web.get(url(portal))
    assert web.post(url(portal, f"sessions/{theirs.id}/revoke/")).status_code == 403
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
