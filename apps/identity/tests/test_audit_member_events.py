"""A member's account events reach their tenants' admins: MFA on/off, new backup codes, the MFA lock, passwords.

The account is global, so a tenant admin reading `audit-events/` must see what
changed about the credentials of their members — in every tenant the member is
active in, and in no other — without a secret in `data`.
"""

from __future__ import annotations

import json

import pytest

from apps.common.tenancy import tenant_context
from apps.identity.models import AuditEvent, Membership, PlatformAuditEvent
from apps.identity.services.audit import REDACTED, audit_chain_verify, audit_record_user_event
from apps.identity.tests.factories import PASSWORD, PortalFactory, TenantFactory
from apps.identity.tests.mfa_support import (
    BACKUP,
    CONFIRM,
    DISABLE,
    SETUP,
    VERIFY,
    forget_last_step,
    password_login,
    totp_code,
    wrong_code,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded")]

EVENTS = "/api/v1/identity/audit-events/"


@pytest.fixture
def other_portal(other_tenant):  # type: ignore[no-untyped-def]
    return PortalFactory(tenant=other_tenant, slug="globex-test", is_default=True)


@pytest.fixture
def other_admin_api(api_client, member, other_tenant, other_portal):  # type: ignore[no-untyped-def]
    return api_client(member("admin", of=other_tenant), other_portal)


@pytest.fixture
def alice(member, other_tenant):  # type: ignore[no-untyped-def]
    """A member of both tenants."""
    user = member("member")
    member("member", user=user, of=other_tenant)
    return user


@pytest.fixture
def alice_api(api_client, alice, portal):  # type: ignore[no-untyped-def]
    return api_client(alice, portal)


def events_about(client, user, action: str) -> list[dict]:  # type: ignore[no-untyped-def]
    response = client.get(EVENTS, {"page_size": 100})
    assert response.status_code == 200, response.content
    return [
        row
        for row in response.json()["results"]
        if row["action"] == action and row["target"] == {"type": "user", "id": str(user.id)}
    ]


def enrol(client, user) -> list[str]:  # type: ignore[no-untyped-def]
    setup = client.post(SETUP)
    assert setup.status_code == 200, setup.content
    confirmed = client.post(CONFIRM, {"code": totp_code(user)})
    assert confirmed.status_code == 200, confirmed.content
    forget_last_step(user)
    return confirmed.json()["backup_codes"]


def test_both_tenants_admins_see_a_member_enable_mfa(alice, alice_api, admin_api, other_admin_api):
    enrol(alice_api, alice)
    for client in (admin_api, other_admin_api):
        rows = events_about(client, alice, "auth.mfa_enabled")
        assert len(rows) == 1, rows
        assert rows[0]["actor"] == {"id": str(alice.id), "email": alice.email}
        assert rows[0]["data"] == {}
    # The operators' platform stream keeps its copy.
    assert PlatformAuditEvent.objects.filter(action="auth.mfa_enabled", actor_id=alice.id).count() == 1


def test_admins_see_disable_and_new_backup_codes_without_any_code(alice, alice_api, admin_api, other_admin_api):
    enrol(alice_api, alice)
    regenerated = alice_api.post(BACKUP, {"code": totp_code(alice)})
    assert regenerated.status_code == 200, regenerated.content
    new_codes = regenerated.json()["backup_codes"]
    forget_last_step(alice)
    assert alice_api.post(DISABLE, {"code": totp_code(alice)}).status_code == 204
    for client in (admin_api, other_admin_api):
        [backup] = events_about(client, alice, "auth.mfa_backup_codes_regenerated")
        assert backup["data"] == {"count": 10}
        [disabled] = events_about(client, alice, "auth.mfa_disabled")
        assert disabled["data"] == {"method": "totp"}
        listed = json.dumps(client.get(EVENTS, {"page_size": 100}).json())
        assert not any(code in listed or code.replace("-", "") in listed for code in new_codes)


@pytest.mark.django_db(transaction=True)  # verify/ runs outside the request transaction, as in production
def test_admins_see_the_mfa_lock_of_a_member(alice, alice_api, admin_api, other_admin_api, api, portal, settings):
    settings.MFA_MAX_FAILURES = 2
    enrol(alice_api, alice)
    token = password_login(api, alice, portal, PASSWORD)["mfa_token"]
    bad = wrong_code(alice)
    assert [api.post(VERIFY, {"mfa_token": token, "code": bad}).status_code for _ in range(2)] == [401, 429]
    # Locked at the sign-in to one tenant's portal: the lock holds in both, and both admins see it.
    for client in (admin_api, other_admin_api):
        [locked] = events_about(client, alice, "auth.mfa_locked")
        assert locked["data"] == {"portal": portal.slug, "where": "verify", "seconds": 300, "failures": 2}
        assert token not in json.dumps(locked)


def test_a_tenant_the_user_is_not_active_in_sees_nothing(
    alice, alice_api, admin_api, other_admin_api, other_tenant, api_client, member
):
    third = TenantFactory(slug="initech-test")
    third_admin = member("admin", of=third)
    third_api = api_client(third_admin, PortalFactory(tenant=third, slug="initech-test", is_default=True))
    with tenant_context(other_tenant):
        Membership.objects.filter(user=alice).update(status=Membership.Status.SUSPENDED)
    enrol(alice_api, alice)
    assert len(events_about(admin_api, alice, "auth.mfa_enabled")) == 1
    assert events_about(other_admin_api, alice, "auth.mfa_enabled") == []  # suspended there
    assert events_about(third_api, alice, "auth.mfa_enabled") == []  # never a member


def test_a_password_event_without_a_session_reaches_every_tenant_redacted(
    alice, admin_api, other_admin_api, tenant, other_tenant
):
    """What password reset (no session, no tenant) and change record: the lead's accounts service calls this."""
    events = audit_record_user_event(
        user=alice,
        action="auth.password_reset",
        ip="192.0.2.9",
        data={"sessions_ended": 2, "new_password": "hunter2-hunter2", "reset_token": "abc.def"},
    )
    assert len(events) == 3  # platform, and each tenant
    for client in (admin_api, other_admin_api):
        [row] = events_about(client, alice, "auth.password_reset")
        assert row["ip"] == "192.0.2.9"
        assert row["data"] == {"sessions_ended": 2, "new_password": REDACTED, "reset_token": REDACTED}
    # Redacted before it was stored, not only on the way out: no copy of the row holds the secret.
    with tenant_context(tenant):
        stored = list(AuditEvent.objects.values_list("data", flat=True))
    stored += list(PlatformAuditEvent.objects.values_list("data", flat=True))
    assert "hunter2" not in json.dumps(stored)
    assert "abc.def" not in json.dumps(stored)
    # Each copy is a proper link of its own stream.
    assert audit_chain_verify().ok


def test_the_acting_sessions_tenant_is_included_once(alice, admin_api, tenant):
    audit_record_user_event(user=alice, action="auth.password_changed", tenant=tenant, data={"reason": "user"})
    [row] = events_about(admin_api, alice, "auth.password_changed")
    assert row["data"] == {"reason": "user"}
