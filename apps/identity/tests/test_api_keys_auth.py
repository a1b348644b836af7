"""A key authenticates as its role and no more, in its own tenant only, and stops when it should."""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from apps.common.tenancy import tenant_context
from apps.identity import api_key_auth
from apps.identity.models import Tenant
from apps.identity.services.accounts import user_deactivate
from apps.identity.services.api_keys import api_key_revoke
from apps.identity.services.tenants import tenant_reactivate, tenant_suspend
from apps.identity.tests.api_keys_support import (
    EVENTS,
    INVITATIONS,
    KEYS,
    MEMBERS,
    ROLES,
    TENANT,
    _fresh_key_cache,  # noqa: F401 - autouse
    events,
    key_client,
    make_key,
)
from apps.identity.tests.members_roles_support import custom_role, membership_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded", "pro_plan")]


# --------------------------------------------------------------------------- as its role, no more


def test_a_member_key_reads_what_a_member_reads_and_nothing_more(tenant, member):
    owner = member("owner")
    _, full_key = make_key(tenant, owner, "member")
    client = key_client(full_key)
    assert client.get(MEMBERS).status_code == 200
    assert client.get(TENANT).json()["slug"] == tenant.slug
    assert client.get(EVENTS).status_code == 403
    assert client.get(KEYS).status_code == 403
    invited = client.post(INVITATIONS, {"email": "x@example.test", "role": "member"}, format="json")
    assert invited.status_code == 403
    assert client.delete(f"{MEMBERS}{membership_of(owner, tenant).id}/").status_code == 403


def test_an_admin_key_reads_the_audit_trail(tenant, member):
    _, full_key = make_key(tenant, member("admin"), "admin")
    assert key_client(full_key).get(EVENTS).status_code == 200


def test_the_services_judge_the_key_by_its_role_not_its_creator(tenant, member):
    """An owner's `admin` key cannot do what only an owner may: make someone an owner."""
    owner, target = member("owner"), member("member")
    _, full_key = make_key(tenant, owner, "admin")
    detail = f"{MEMBERS}{membership_of(target, tenant).id}/"
    client = key_client(full_key)
    refused = client.patch(detail, {"role": "owner"}, format="json")
    assert refused.status_code == 403, refused.content
    assert membership_of(target, tenant).role.code == "member"
    assert client.patch(detail, {"role": "admin"}, format="json").status_code == 200


def test_events_made_with_a_key_name_the_key_and_its_creator(
    tenant, portal, member, django_capture_on_commit_callbacks
):
    owner = member("owner")
    key, full_key = make_key(tenant, owner, "admin")
    with django_capture_on_commit_callbacks(execute=True):
        response = key_client(full_key).post(INVITATIONS, {"email": "new@example.test", "role": "member"})
    assert response.status_code == 201, response.content
    [event] = events(tenant, "invitation.created")
    assert event.actor_id == owner.id
    assert event.data["api_client"] == key.prefix
    assert key.prefix in json.dumps(key_client(full_key).get(EVENTS).json())  # auditors see which key acted


def test_a_key_whose_custom_role_is_gone_holds_nothing(tenant, member, pro_plan):
    role = custom_role(tenant, "reader", ["identity.view_member"])
    _, full_key = make_key(tenant, member("owner"), "reader")
    assert key_client(full_key).get(MEMBERS).status_code == 200
    with tenant_context(tenant):
        role.delete()
    api_key_auth.forget_standings()
    from apps.identity import rbac

    rbac.reset_role_map()
    assert key_client(full_key).get(MEMBERS).status_code == 403


# --------------------------------------------------------------------------- tenancy


def test_a_key_of_tenant_a_never_reaches_tenant_b(tenant, other_tenant, member, portal, pro_plan):
    """The key names its tenant: B's ids are not found (404, never a 403 that says they exist)."""
    _, full_key = make_key(tenant, member("owner"), "admin")
    b_owner = member("owner", of=other_tenant)
    b_member = member("member", of=other_tenant)
    b_key, _ = make_key(other_tenant, b_owner, "member")
    b_role = custom_role(other_tenant, "b-only", ["identity.view_member"])
    client = key_client(full_key)
    b_membership = f"{MEMBERS}{membership_of(b_member, other_tenant).id}/"
    answers = {
        "patch member": client.patch(b_membership, {"role": "admin"}, format="json"),
        "remove member": client.delete(b_membership),
        "revoke key": client.delete(f"{KEYS}{b_key.id}/"),
        "change role": client.patch(f"{ROLES}{b_role.code}/", {"name": "x"}, format="json"),
    }
    assert {what: r.status_code for what, r in answers.items()} == dict.fromkeys(answers, 404)
    listed = json.dumps([client.get(MEMBERS).json(), client.get(KEYS).json(), client.get(TENANT).json()])
    assert b_owner.email not in listed
    assert str(b_key.id) not in listed
    assert other_tenant.slug not in listed
    assert membership_of(b_member, other_tenant).role.code == "member"


# --------------------------------------------------------------------------- revoked, expired, ended


def test_a_revoked_key_is_401_at_the_next_request_even_when_warm(tenant, member):
    key, full_key = make_key(tenant, member("owner"), "member")
    client = key_client(full_key)
    assert client.get(MEMBERS).status_code == 200  # loaded into this process
    row, admin = Tenant.objects.get(id=tenant.id), member("admin")
    with tenant_context(row):
        api_key_revoke(tenant=row, actor=admin, key_id=key.id)
    response = client.get(MEMBERS)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    api_key_auth.forget_standings()  # another server, or this one after the mark expired: the row says revoked
    from django.core.cache import cache

    cache.clear()
    assert client.get(MEMBERS).status_code == 401


def test_an_expired_key_is_401_at_the_next_request(tenant, member, monkeypatch):
    _, full_key = make_key(tenant, member("owner"), "member", expires_at=timezone.now() + timedelta(minutes=5))
    client = key_client(full_key)
    assert client.get(MEMBERS).status_code == 200
    later = api_key_auth.time.time() + 301
    monkeypatch.setattr(api_key_auth, "time", SimpleNamespace(time=lambda: later))
    assert client.get(MEMBERS).status_code == 401


def test_a_key_stops_when_its_creator_leaves_the_tenant(tenant, member, portal, api_client):
    owner, admin = member("owner"), member("admin")
    _, full_key = make_key(tenant, admin, "member")
    client = key_client(full_key)
    assert client.get(MEMBERS).status_code == 200
    assert api_client(owner, portal).delete(f"{MEMBERS}{membership_of(admin, tenant).id}/").status_code == 204
    assert client.get(MEMBERS).status_code == 401


def test_a_key_stops_when_its_creator_no_longer_holds_its_role(tenant, member, portal, api_client):
    owner, admin = member("owner"), member("admin")
    _, admin_key = make_key(tenant, admin, "admin")
    _, member_key = make_key(tenant, admin, "member")
    assert key_client(admin_key).get(EVENTS).status_code == 200
    demoted = api_client(owner, portal).patch(
        f"{MEMBERS}{membership_of(admin, tenant).id}/", {"role": "member"}, format="json"
    )
    assert demoted.status_code == 200
    assert key_client(admin_key).get(MEMBERS).status_code == 401  # its role is more than the creator holds now
    assert key_client(member_key).get(MEMBERS).status_code == 200  # still within what they hold


def test_a_role_that_grows_past_the_creator_stops_the_key(tenant, member, portal, api_client, committed):
    custom_role(tenant, "helper", ["identity.view_member"])
    owner, admin = member("owner"), member("admin")
    _, full_key = make_key(tenant, admin, "helper")
    assert key_client(full_key).get(MEMBERS).status_code == 200
    Tenant.objects.filter(id=tenant.id).update(plan_code="pro")
    with committed():  # the RBAC version moves when the change commits
        changed = api_client(owner, portal).patch(
            f"{ROLES}helper/", {"permissions": ["identity.view_member", "billing.manage_subscription"]}, format="json"
        )
    assert changed.status_code == 200, changed.content
    assert key_client(full_key).get(MEMBERS).status_code == 401


def test_a_key_stops_when_its_creator_is_deactivated(tenant, member):
    creator = member("owner")
    _, full_key = make_key(tenant, creator, "member")
    assert key_client(full_key).get(MEMBERS).status_code == 200
    user_deactivate(user=creator)
    assert key_client(full_key).get(MEMBERS).status_code == 401


def test_a_suspended_tenants_keys_stop_and_come_back(tenant, member):
    _, full_key = make_key(tenant, member("owner"), "member")
    assert key_client(full_key).get(MEMBERS).status_code == 200
    row = Tenant.objects.get(id=tenant.id)
    tenant_suspend(tenant=row)
    assert key_client(full_key).get(MEMBERS).status_code == 401
    tenant_reactivate(tenant=Tenant.objects.get(id=tenant.id))
    api_key_auth.forget_standings()
    assert key_client(full_key).get(MEMBERS).status_code == 200
