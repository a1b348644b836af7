"""`auth/sessions/`: a user's live sessions, ending one, and the bulk revocations behind the operator command."""

from __future__ import annotations

import uuid

import jwt
import pytest
from rest_framework.test import APIClient

from apps.common.tenancy import tenant_context
from apps.identity.models import AuditEvent, PlatformAuditEvent, Tenant
from apps.identity.services import sessions, tenants
from apps.identity.tests.factories import PortalFactory, make_membership

pytestmark = pytest.mark.django_db(transaction=True)

LIST = "/api/v1/identity/auth/sessions/"
ME = "/api/v1/identity/auth/me/"
REFRESH = "/api/v1/identity/auth/refresh/"
LOGIN = "/api/v1/identity/auth/login/"


def _bearer(access: str, **extra: str) -> APIClient:
    client = APIClient(**extra)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def _sid(tokens: dict) -> str:
    return jwt.decode(tokens["access"], options={"verify_signature": False})["sid"]


def test_list_shows_live_sessions_of_every_tenant_with_the_current_one_marked(api, member, portal, login):
    user = member()
    elsewhere = PortalFactory(slug="elsewhere")
    make_membership(user=user, tenant=elsewhere.tenant)
    caller = login(user, portal)
    there = login(user, elsewhere)
    ended = login(user, portal)
    api.post("/api/v1/identity/auth/logout/", {"refresh": ended["refresh"]})
    response = _bearer(caller["access"]).get(LIST)
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"results", "next", "previous"}
    rows = {row["id"]: row for row in body["results"]}
    assert set(rows) == {_sid(caller), _sid(there)}
    mine = rows[_sid(caller)]
    assert set(mine) == {"id", "portal", "created_at", "last_used_at", "ip", "user_agent", "current"}
    assert mine["current"] is True
    assert mine["portal"] == portal.slug
    assert mine["ip"] == "127.0.0.1"
    assert rows[_sid(there)]["current"] is False
    assert rows[_sid(there)]["portal"] == "elsewhere"


def test_list_never_shows_another_users_sessions(member, portal, login):
    user, other = member(), member()
    login(other, portal)
    tokens = login(user, portal)
    rows = _bearer(tokens["access"]).get(LIST).json()["results"]
    assert [row["id"] for row in rows] == [_sid(tokens)]


def test_list_is_paginated(member, portal, login):
    user = member()
    for _ in range(3):
        login(user, portal)
    tokens = login(user, portal)
    first = _bearer(tokens["access"]).get(LIST, {"page_size": 2}).json()
    assert len(first["results"]) == 2
    assert first["next"]
    assert first["previous"] is None
    rest = _bearer(tokens["access"]).get(first["next"]).json()
    assert len(rest["results"]) == 2
    assert rest["next"] is None


def test_user_agent_is_recorded(member, portal):
    user = member()
    client = APIClient(HTTP_USER_AGENT="Probe/1.0")
    tokens = client.post(
        LOGIN, {"email": user.email, "password": "correct horse battery staple", "portal": portal.slug}
    )
    rows = _bearer(tokens.json()["access"]).get(LIST).json()["results"]
    assert rows[0]["user_agent"] == "Probe/1.0"


def test_delete_ends_that_session_at_once(api, member, portal, login):
    user = member()
    caller = login(user, portal)
    victim = login(user, portal)
    response = _bearer(caller["access"]).delete(f"{LIST}{_sid(victim)}/")
    assert response.status_code == 204
    assert _bearer(victim["access"]).get(ME).status_code == 401
    assert api.post(REFRESH, {"refresh": victim["refresh"]}).status_code == 401
    assert _bearer(caller["access"]).get(ME).status_code == 200
    # Ended sessions are gone from the list, and a second delete finds nothing.
    assert [row["id"] for row in _bearer(caller["access"]).get(LIST).json()["results"]] == [_sid(caller)]
    assert _bearer(caller["access"]).delete(f"{LIST}{_sid(victim)}/").status_code == 404
    with tenant_context(portal.tenant):
        assert AuditEvent.objects.filter(action="auth.session_revoked", target_id=_sid(victim)).exists()


def test_delete_own_current_session_signs_out(member, portal, login):
    user = member()
    tokens = login(user, portal)
    assert _bearer(tokens["access"]).delete(f"{LIST}{_sid(tokens)}/").status_code == 204
    assert _bearer(tokens["access"]).get(ME).status_code == 401
    assert _bearer(login(user, portal)["access"]).get(ME).status_code == 200


def test_delete_another_users_session_is_404_and_leaves_it_alive(member, portal, login, other_tenant):
    user, other = member(), member()
    outsider_portal = PortalFactory(tenant=other_tenant, slug="outsider")
    outsider = member(user=None, of=other_tenant)
    victims = [login(other, portal), login(outsider, outsider_portal)]
    tokens = login(user, portal)
    for victim in victims:
        response = _bearer(tokens["access"]).delete(f"{LIST}{_sid(victim)}/")
        assert response.status_code == 404
        assert _bearer(victim["access"]).get(ME).status_code == 200
    assert _bearer(tokens["access"]).delete(f"{LIST}{uuid.uuid4()}/").status_code == 404


def test_sessions_need_a_bearer(api):
    assert api.get(LIST).status_code == 401
    assert api.delete(f"{LIST}{uuid.uuid4()}/").status_code == 401


# --------------------------------------------------------------------------- bulk revocation


def test_revoke_user_ends_every_session_in_every_tenant(api, member, portal, login):
    user, bystander = member(), member()
    elsewhere = PortalFactory(slug="elsewhere")
    make_membership(user=user, tenant=elsewhere.tenant)
    mine = [login(user, portal), login(user, elsewhere)]
    theirs = login(bystander, portal)
    assert sessions.sessions_revoke_user(user=user, reason="test") == 2
    for tokens in mine:
        assert _bearer(tokens["access"]).get(ME).status_code == 401
        assert api.post(REFRESH, {"refresh": tokens["refresh"]}).status_code == 401
    assert _bearer(theirs["access"]).get(ME).status_code == 200
    event = PlatformAuditEvent.objects.get(action="auth.sessions_revoked")
    assert event.data == {"scope": "user", "reason": "test", "count": 2}
    # What existed ended; the account did not: a fresh sign-in (same second, as like as not) works.
    assert _bearer(login(user, portal)["access"]).get(ME).status_code == 200


def test_revoke_portal_ends_only_that_portals_sessions(api, member, portal, tenant, login):
    user = member()
    second = PortalFactory(tenant=tenant, slug="second")
    here, there = login(user, portal), login(user, second)
    assert sessions.sessions_revoke_portal(portal=portal) == 1
    assert _bearer(here["access"]).get(ME).status_code == 401
    assert api.post(REFRESH, {"refresh": here["refresh"]}).status_code == 401
    assert _bearer(there["access"]).get(ME).status_code == 200
    assert _bearer(login(user, portal)["access"]).get(ME).status_code == 200


def test_revoke_tenant_ends_only_that_tenants_sessions(api, member, portal, tenant, other_tenant, login):
    user = member()
    outside = PortalFactory(tenant=other_tenant, slug="outside")
    make_membership(user=user, tenant=other_tenant)
    here, there = login(user, portal), login(user, outside)
    assert sessions.sessions_revoke_tenant(tenant=tenant) == 1
    assert _bearer(here["access"]).get(ME).status_code == 401
    assert api.post(REFRESH, {"refresh": here["refresh"]}).status_code == 401
    assert _bearer(there["access"]).get(ME).status_code == 200
    with tenant_context(tenant):
        assert AuditEvent.objects.get(action="auth.sessions_revoked").data["count"] == 1
    assert _bearer(login(user, portal)["access"]).get(ME).status_code == 200


def test_tenant_suspension_ends_access_at_the_next_request(api, member, portal, tenant, other_tenant, login):
    user = member("owner")
    outside = PortalFactory(tenant=other_tenant, slug="outside")
    make_membership(user=user, tenant=other_tenant)
    here, there = login(user, portal), login(user, outside)
    assert tenants.tenant_suspend(tenant=tenant, reason="unpaid") == 1
    assert Tenant.objects.get(id=tenant.id).status == Tenant.Status.SUSPENDED
    assert _bearer(here["access"]).get(ME).status_code == 401
    assert api.post(REFRESH, {"refresh": here["refresh"]}).status_code == 401
    relogin = api.post(LOGIN, {"email": user.email, "password": "correct horse battery staple", "portal": portal.slug})
    assert relogin.status_code == 403
    # The user's other tenant is untouched.
    assert _bearer(there["access"]).get(ME).status_code == 200
    with tenant_context(tenant):
        event = AuditEvent.objects.get(action="tenant.suspended")
    assert event.data == {"reason": "unpaid", "sessions_ended": 1}
    # Suspending again changes nothing and records nothing new.
    assert tenants.tenant_suspend(tenant=tenant) == 0
    with tenant_context(tenant):
        assert AuditEvent.objects.filter(action="tenant.suspended").count() == 1
    # Reactivated, the tenant's members sign in again at once (the old tokens stay dead).
    tenants.tenant_reactivate(tenant=tenant)
    assert _bearer(login(user, portal)["access"]).get(ME).status_code == 200
    assert _bearer(here["access"]).get(ME).status_code == 401
    with tenant_context(tenant):
        assert AuditEvent.objects.filter(action="tenant.reactivated").count() == 1
