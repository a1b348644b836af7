"""Password reset and change: no enumeration, links that work once, sessions that end."""

from __future__ import annotations

import re
from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.auth.tokens import PasswordResetTokenGenerator, default_token_generator
from django.core import mail
from django.db import connection
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from rest_framework.test import APIClient

from apps.common.exceptions import ApplicationError
from apps.common.models import OutboxMessage
from apps.common.tenancy import tenant_context
from apps.common.tests.jobs_fixtures import embedded_queues  # noqa: F401 - fixture
from apps.identity.models import AuditEvent, AuthSession, PlatformAuditEvent, User
from apps.identity.services import accounts
from apps.identity.tests.factories import PASSWORD, PortalFactory, make_membership

pytestmark = pytest.mark.django_db(transaction=True)

RESET = "/api/v1/identity/auth/password/reset/"
LOGIN = "/api/v1/identity/auth/login/"
CONFIRM = "/api/v1/identity/auth/password/reset/confirm/"
CHANGE = "/api/v1/identity/auth/password/change/"
ME = "/api/v1/identity/auth/me/"
REFRESH = "/api/v1/identity/auth/refresh/"
NEW = "a completely new passphrase 7"
LINK_RE = re.compile(r"/portal/(?P<portal>[\w-]+)/password/reset/\?uid=(?P<uid>[\w-]+)&token=(?P<token>[\w-]+)")


@pytest.fixture(autouse=True)
def _mail_jobs_run_inline(embedded_queues):  # noqa: F811 - the imported fixture
    """Mail jobs run right after commit, as in the embedded setup, even where REDIS_URL is set."""


def _bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def _link(email: str) -> re.Match[str]:
    bodies = [m.body for m in mail.outbox if m.to == [email] and "password/reset/?uid=" in m.body]
    assert bodies, f"no reset mail to {email}"
    match = LINK_RE.search(bodies[-1])
    assert match
    return match


def _confirm_body(user: User, password: str = NEW) -> dict[str, str]:
    return {
        "uid": urlsafe_base64_encode(force_bytes(user.pk)),
        "token": default_token_generator.make_token(user),
        "new_password": password,
    }


# --------------------------------------------------------------------------- request


def test_reset_answers_the_same_for_known_and_unknown_email(api, member, portal):
    user = member()
    known = api.post(RESET, {"email": user.email, "portal": portal.slug})
    unknown = api.post(RESET, {"email": "nobody@example.test", "portal": portal.slug})
    case_variant = api.post(RESET, {"email": user.email.upper()})
    assert known.status_code == unknown.status_code == case_variant.status_code == 202
    assert known.json() == unknown.json() == case_variant.json()
    assert {tuple(m.to) for m in mail.outbox} == {(user.email,)}
    assert len(mail.outbox) == 2  # the two requests for the real address


def test_reset_mail_link_sets_the_password_once(api, member, portal, login):
    user = member()
    api.post(RESET, {"email": user.email, "portal": portal.slug})
    link = _link(user.email)
    assert link["portal"] == portal.slug
    body = {"uid": link["uid"], "token": link["token"], "new_password": NEW}
    assert api.post(CONFIRM, body).status_code == 204
    user.refresh_from_db()
    assert user.check_password(NEW)
    assert login(user, portal, password=NEW)["access"]
    # The same link again: the token was bound to the old password hash.
    again = api.post(CONFIRM, {**body, "new_password": "yet another passphrase 9"})
    assert again.status_code == 400
    assert again.json()["errors"]["token"]
    user.refresh_from_db()
    assert user.check_password(NEW)


def test_reset_link_expires(api, member):
    user = member()
    body = _confirm_body(user)
    later = PasswordResetTokenGenerator()._now() + timedelta(days=4)
    with mock.patch.object(PasswordResetTokenGenerator, "_now", return_value=later):
        response = api.post(CONFIRM, body)
    assert response.status_code == 400
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


@pytest.mark.parametrize(
    "change",
    [
        {"uid": "not-base64!"},
        {"uid": urlsafe_base64_encode(b"not-a-uuid")},
        {"uid": urlsafe_base64_encode(b"00000000-0000-0000-0000-000000000000")},
        {"token": "abc-def"},
        {"token": ""},
        {"uid": ""},
    ],
)
def test_tampered_reset_links_are_400(api, member, change):
    user = member()
    response = api.post(CONFIRM, {**_confirm_body(user), **change})
    assert response.status_code == 400
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_token_of_one_user_does_not_reset_another(api, member):
    victim, attacker = member(), member()
    body = _confirm_body(attacker)
    body["uid"] = urlsafe_base64_encode(force_bytes(victim.pk))
    assert api.post(CONFIRM, body).status_code == 400
    victim.refresh_from_db()
    assert victim.check_password(PASSWORD)


def test_weak_new_password_is_400_and_the_link_still_works(api, member):
    user = member()
    body = _confirm_body(user, password="short")
    response = api.post(CONFIRM, body)
    assert response.status_code == 400
    assert response.json()["errors"]["new_password"]
    assert api.post(CONFIRM, {**body, "new_password": NEW}).status_code == 204


def test_reset_revokes_existing_access_and_refresh_tokens(api, member, portal, tenant, login):
    user = member()
    second_portal = PortalFactory(tenant=tenant, slug="second")
    first = login(user, portal)
    second = login(user, second_portal)
    assert _bearer(first["access"]).get(ME).status_code == 200
    assert api.post(CONFIRM, _confirm_body(user)).status_code == 204
    for tokens in (first, second):
        assert _bearer(tokens["access"]).get(ME).status_code == 401
        assert api.post(REFRESH, {"refresh": tokens["refresh"]}).status_code == 401
    assert not AuthSession.objects.filter(user=user, revoked_at__isnull=True).exists()
    assert set(AuthSession.objects.filter(user=user).values_list("revoke_reason", flat=True)) == {"password_reset"}
    # The new password signs in at once, right after the revocation.
    assert _bearer(login(user, portal, password=NEW)["access"]).get(ME).status_code == 200


def test_reset_reaches_a_user_without_a_usable_password(api, tenant, portal):
    """Django's PasswordResetForm skips such users silently (docs/security.md, trap 11); Atrium does not."""
    user = User.objects.create_user(email="owner-without-password@example.test")
    assert not user.has_usable_password()
    make_membership(user=user, tenant=tenant, role="owner")
    assert api.post(RESET, {"email": user.email}).status_code == 202
    link = _link(user.email)
    # Never signed in: the default portal of the oldest membership.
    assert link["portal"] == portal.slug
    assert api.post(CONFIRM, {"uid": link["uid"], "token": link["token"], "new_password": NEW}).status_code == 204
    user.refresh_from_db()
    assert user.has_usable_password()
    assert user.check_password(NEW)


def test_reset_of_an_inactive_user_sends_nothing(api, member):
    user = member()
    user.is_active = False
    user.save()
    assert api.post(RESET, {"email": user.email}).status_code == 202
    assert mail.outbox == []
    assert api.post(CONFIRM, _confirm_body(user)).status_code == 400


def test_reset_link_portal_rules(api, member, portal, tenant, other_tenant, login):
    user = member()
    second = PortalFactory(tenant=tenant, slug="second")
    foreign = PortalFactory(tenant=other_tenant, slug="foreign")
    # Named and enterable: that one.
    api.post(RESET, {"email": user.email, "portal": second.slug})
    assert _link(user.email)["portal"] == second.slug
    # Named but not enterable (another tenant): the latest sign-in's portal, here none yet → oldest membership.
    api.post(RESET, {"email": user.email, "portal": foreign.slug})
    assert _link(user.email)["portal"] == portal.slug
    login(user, second)
    api.post(RESET, {"email": user.email, "portal": foreign.slug})
    assert _link(user.email)["portal"] == second.slug
    api.post(RESET, {"email": user.email})
    assert _link(user.email)["portal"] == second.slug


def test_no_live_reset_token_rests_in_the_outbox(api, member, portal):
    user = member()
    api.post(RESET, {"email": user.email, "portal": portal.slug})
    token = _link(user.email)["token"]
    assert OutboxMessage.objects.exists()
    for message in OutboxMessage.objects.all():
        assert token not in str(message.kwargs)


def test_reset_is_audited_in_the_platform_stream_and_mails_a_notice(api, member, portal, login):
    user = member()
    assert api.post(CONFIRM, _confirm_body(user)).status_code == 204
    event = PlatformAuditEvent.objects.get(action="auth.password_reset")
    assert event.actor_id == user.id
    assert NEW not in str(event.data)
    # The tenant's administrators see their member's reset in the tenant's own trail.
    admin = member("admin")
    trail = _bearer(login(admin, portal)["access"]).get("/api/v1/identity/audit-events/").json()["results"]
    resets = [e for e in trail if e["action"] == "auth.password_reset"]
    assert [e["target"] for e in resets] == [{"type": "user", "id": str(user.id)}]
    notices = [m for m in mail.outbox if m.to == [user.email] and "was reset" in m.body]
    assert len(notices) == 1
    user.refresh_from_db()
    assert user.email_verified  # the mailed link proved the mailbox


def test_reset_clears_the_login_lockout(api, member, portal):
    """The real lockout: a pair locked by wrong passwords signs in right after the reset."""
    user = member()
    attempt = {"email": user.email, "portal": portal.slug}
    for _ in range(5):
        assert APIClient().post(LOGIN, {**attempt, "password": "wrong"}).status_code == 401
    assert APIClient().post(LOGIN, {**attempt, "password": PASSWORD}).status_code == 429
    assert api.post(CONFIRM, _confirm_body(user)).status_code == 204
    assert APIClient().post(LOGIN, {**attempt, "password": NEW}).status_code == 200


def test_parallel_use_of_one_reset_token_succeeds_once(member):
    """The second confirm, holding the same token, sees the new password hash under the row lock."""
    user = member()
    body = _confirm_body(user)
    accounts.password_reset_confirm(uid=body["uid"], token=body["token"], new_password=NEW)
    with pytest.raises(ApplicationError):
        accounts.password_reset_confirm(uid=body["uid"], token=body["token"], new_password="another passphrase 99")


# --------------------------------------------------------------------------- change


def test_password_change_keeps_the_caller_and_ends_every_other_session(api, member, portal, tenant, login):
    user = member()
    other_tenant_portal = PortalFactory(slug="elsewhere")
    make_membership(user=user, tenant=other_tenant_portal.tenant)
    caller = login(user, portal)
    other_here = login(user, portal)
    other_there = login(user, other_tenant_portal)
    response = _bearer(caller["access"]).post(CHANGE, {"current_password": PASSWORD, "new_password": NEW})
    assert response.status_code == 204, response.content
    # The caller's access token and refresh still work.
    assert _bearer(caller["access"]).get(ME).status_code == 200
    assert api.post(REFRESH, {"refresh": caller["refresh"]}).status_code == 200
    # Every other session is over at once, in every tenant.
    for tokens in (other_here, other_there):
        assert _bearer(tokens["access"]).get(ME).status_code == 401
        assert api.post(REFRESH, {"refresh": tokens["refresh"]}).status_code == 401
    user.refresh_from_db()
    assert user.check_password(NEW)
    # Both tenants' administrators see it, about this user, with nothing secret in it.
    for where in (tenant, other_tenant_portal.tenant):
        with tenant_context(where):
            event = AuditEvent.objects.get(action="auth.password_changed")
        assert event.target_id == str(user.id)
        assert event.data["other_sessions_ended"] == 2
        assert NEW not in str(event.data)
    assert any("was changed" in m.body for m in mail.outbox if m.to == [user.email])


def test_password_change_with_a_wrong_current_password_is_400(member, portal, login):
    user = member()
    tokens = login(user, portal)
    other = login(user, portal)
    response = _bearer(tokens["access"]).post(CHANGE, {"current_password": "not it", "new_password": NEW})
    assert response.status_code == 400
    assert response.json()["errors"]["current_password"]
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    # Nothing ended, and the failure is on record although the request rolled back.
    assert _bearer(other["access"]).get(ME).status_code == 200
    if connection.vendor == "postgresql":  # durable audit inside a request needs a second writer (ADR 0005)
        with tenant_context(portal.tenant):
            assert AuditEvent.objects.filter(action="auth.password_change_failed").count() == 1


def test_password_change_wrong_password_counts_towards_the_lockout(member, portal, login):
    """A stolen access token cannot be used to guess the password: the real lockout counts each try."""
    user = member()
    tokens = login(user, portal)
    for _ in range(5):
        response = _bearer(tokens["access"]).post(CHANGE, {"current_password": "guess", "new_password": NEW})
        assert response.status_code == 400
    locked = _bearer(tokens["access"]).post(CHANGE, {"current_password": PASSWORD, "new_password": NEW})
    assert locked.status_code == 429
    signin = APIClient().post(LOGIN, {"email": user.email, "password": PASSWORD, "portal": portal.slug})
    assert signin.status_code == 429


def test_password_change_weak_new_password_is_400(member, portal, login):
    user = member()
    tokens = login(user, portal)
    response = _bearer(tokens["access"]).post(CHANGE, {"current_password": PASSWORD, "new_password": "123456789012"})
    assert response.status_code == 400
    assert response.json()["errors"]["new_password"]


def test_password_change_needs_a_bearer(api):
    assert api.post(CHANGE, {"current_password": PASSWORD, "new_password": NEW}).status_code == 401


def test_unknown_user_without_password_has_no_reset_side_effects(api):
    assert api.post(RESET, {"email": "nobody@example.test"}).status_code == 202
    assert not OutboxMessage.objects.exists()
    assert not PlatformAuditEvent.objects.exists()


def test_reset_requests_are_throttled_per_client_alike_for_known_and_unknown(api, member, portal, settings):
    """Flooding one address with reset mails stops at the rate, and the 429 says nothing about the address."""
    user = member()
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "password_reset": "2/hour"},
    }
    assert api.post(RESET, {"email": user.email}).status_code == 202
    assert api.post(RESET, {"email": "ghost@example.test"}).status_code == 202
    known = api.post(RESET, {"email": user.email})
    unknown = api.post(RESET, {"email": "ghost@example.test"})
    assert known.status_code == unknown.status_code == 429
    assert known["Retry-After"]
    assert known.json() == unknown.json()
    assert len(mail.outbox) == 1
