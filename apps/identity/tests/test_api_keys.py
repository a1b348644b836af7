"""`integrations/api-keys/`: create (the key once), list (never the secret), revoke — rules, paging, audit."""

from __future__ import annotations

import json
from datetime import timedelta
from uuid import uuid4

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.common.tenancy import tenant_context
from apps.identity.api_key_format import KEY_RE, key_digest
from apps.identity.models import ApiKey, ApiKeyPrefix, AuditEvent
from apps.identity.tests.api_keys_support import (
    KEYS,
    _fresh_key_cache,  # noqa: F401 - autouse
    events,
    key_client,
    key_row,
    make_key,
)
from apps.identity.tests.members_roles_support import custom_role

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded", "pro_plan")]


def _create(client, **body):  # type: ignore[no-untyped-def]
    return client.post(KEYS, {"name": "CRM sync", "role": "member", **body}, format="json")


# --------------------------------------------------------------------------- create


def test_an_admin_creates_a_key_and_sees_it_once(api_client, member, portal, tenant):
    admin = member("admin")
    client = api_client(admin, portal)
    response = _create(client)
    assert response.status_code == 201, response.content
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert set(body) == {"id", "name", "role", "prefix", "key", "created_at", "expires_at"}
    assert body["name"] == "CRM sync"
    assert body["role"] == "member"
    assert body["expires_at"] is None
    match = KEY_RE.fullmatch(body["key"])
    assert match is not None
    assert match["prefix"] == body["prefix"]
    listed = client.get(KEYS).json()["results"]
    assert [row["id"] for row in listed] == [body["id"]]
    assert body["key"] not in json.dumps(listed)
    assert listed[0]["status"] == "active"
    assert listed[0]["created_by"] == {"id": str(admin.id), "email": admin.email}


def test_only_the_digest_is_stored_nowhere_the_key(api_client, member, portal, tenant):
    response = _create(api_client(member("admin"), portal))
    full_key, prefix = response.json()["key"], response.json()["prefix"]
    row = key_row(tenant, response.json()["id"])
    assert row.secret_hash == key_digest(full_key)
    assert len(row.secret_hash) == 64
    secret = full_key.split("_", 2)[2]
    stored = [str(getattr(row, f.attname)) for f in ApiKey._meta.concrete_fields]
    assert not [value for value in stored if secret in value]
    with tenant_context(tenant):
        trail = json.dumps([e.data for e in AuditEvent.objects.all()])
    assert secret not in trail
    assert prefix in trail
    assert ApiKeyPrefix.objects.get(prefix=prefix).tenant_id == tenant.id


def test_two_keys_never_share_a_prefix_or_a_secret(tenant, member):
    owner = member("owner")
    made = [make_key(tenant, owner)[1] for _ in range(5)]
    assert len({k.split("_")[1] for k in made}) == 5
    assert len({k.split("_", 2)[2] for k in made}) == 5


def test_a_key_with_an_expiry_in_the_future(api_client, member, portal):
    later = (timezone.now() + timedelta(days=30)).isoformat()
    response = _create(api_client(member("admin"), portal), expires_at=later)
    assert response.status_code == 201, response.content
    assert response.json()["expires_at"] is not None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "nope"}, "role"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"expires_at": "2000-01-01T00:00:00Z"}, "expires_at"),
        ({"expires_at": "not a date"}, "expires_at"),
        ({"role": ["member"]}, "role"),
        ({"name": None}, "name"),
    ],
    ids=["unknown-role", "blank-name", "long-name", "past-expiry", "garbage-expiry", "list-role", "null-name"],
)
def test_bad_input_is_400_with_the_field(api_client, member, portal, tenant, body, field):
    response = _create(api_client(member("admin"), portal), **body)
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    with tenant_context(tenant):
        assert not ApiKey.objects.exists()


def test_nobody_mints_a_key_with_more_than_they_hold(api_client, member, portal, tenant, pro_plan):
    custom_role(tenant, "billing-bot", ["billing.manage_subscription"])
    client = api_client(member("admin"), portal)
    response = _create(client, role="billing-bot")
    assert response.status_code == 403, response.content
    assert response.json()["missing_permissions"] == ["billing.manage_subscription"]
    assert _create(client, role="owner").status_code == 403  # only an owner gives `owner`
    assert _create(client, role="admin").status_code == 201  # what they hold themselves
    owner_client = api_client(member("owner"), portal)
    assert _create(owner_client, role="billing-bot").status_code == 201
    assert _create(owner_client, role="owner").status_code == 201


def test_a_member_cannot_list_create_or_revoke(api_client, member, portal, tenant):
    key, _ = make_key(tenant, member("owner"))
    client = api_client(member("member"), portal)
    assert client.get(KEYS).status_code == 403
    assert _create(client).status_code == 403
    assert client.delete(f"{KEYS}{key.id}/").status_code == 403
    assert key_row(tenant, key.id).revoked_at is None


def test_anonymous_is_401(api):
    for response in (api.get(KEYS), api.post(KEYS, {}, format="json"), api.delete(f"{KEYS}{uuid4()}/")):
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == 'Bearer realm="api"'


# --------------------------------------------------------------------------- revoke


def test_revoking_stops_the_key_and_is_audited_once(api_client, member, portal, tenant):
    admin = member("admin")
    key, full_key = make_key(tenant, member("owner"))
    assert key_client(full_key).get("/api/v1/identity/members/").status_code == 200
    client = api_client(admin, portal)
    assert client.delete(f"{KEYS}{key.id}/").status_code == 204
    assert key_client(full_key).get("/api/v1/identity/members/").status_code == 401
    assert client.delete(f"{KEYS}{key.id}/").status_code == 204  # again: nothing changes
    [event] = events(tenant, "api_key.revoked")
    assert event.actor_id == admin.id
    assert event.data["prefix"] == key.prefix
    listed = client.get(KEYS).json()["results"]
    assert listed[0]["status"] == "revoked"
    assert listed[0]["revoked_at"] is not None


def test_another_tenants_key_id_is_404_and_untouched(api_client, member, portal, tenant, other_tenant):
    stranger = member("owner", of=other_tenant)
    theirs, _their_key = make_key(other_tenant, stranger)
    client = api_client(member("admin"), portal)
    assert client.delete(f"{KEYS}{theirs.id}/").status_code == 404
    assert client.delete(f"{KEYS}{uuid4()}/").status_code == 404
    assert client.delete(f"{KEYS}not-a-uuid/").status_code == 404
    assert key_row(other_tenant, theirs.id).revoked_at is None
    assert str(theirs.id) not in json.dumps(client.get(KEYS).json())


def test_creation_is_audited_with_role_and_prefix(api_client, member, portal, tenant):
    admin = member("admin")
    body = _create(api_client(admin, portal)).json()
    [event] = events(tenant, "api_key.created")
    assert event.actor_id == admin.id
    assert event.target_id == body["id"]
    assert event.data == {"name": "CRM sync", "role": "member", "prefix": body["prefix"], "expires_at": None}


def test_the_list_shows_expired_keys_as_expired(member, tenant, api_client, portal):
    key, _ = make_key(tenant, member("owner"))
    with tenant_context(tenant):
        ApiKey.objects.filter(id=key.id).update(expires_at=timezone.now() - timedelta(seconds=1))
    [row] = api_client(member("admin"), portal).get(KEYS).json()["results"]
    assert row["status"] == "expired"


# --------------------------------------------------------------------------- paging


def test_the_list_pages_by_cursor_and_refuses_a_bad_cursor(api_client, member, portal, tenant):
    owner = member("owner")
    for _ in range(3):
        make_key(tenant, owner)
    client = api_client(member("admin"), portal)
    first = client.get(KEYS, {"page_size": 2}).json()
    assert len(first["results"]) == 2
    assert first["next"]
    second = client.get(first["next"]).json()
    assert len(second["results"]) == 1
    assert second["next"] is None
    seen = [r["id"] for r in first["results"] + second["results"]]
    assert len(set(seen)) == 3
    for cursor in ("garbage", "cD0yMDAwLWJhZA==", "%00"):
        assert client.get(KEYS, {"cursor": cursor}).status_code == 404


def test_the_list_runs_the_same_queries_at_1_20_and_100_keys(api_client, member, portal, tenant):
    owner = member("owner")
    client = api_client(member("admin"), portal)
    client.get(KEYS)  # warm
    counts, made = {}, 0
    for size in (1, 20, 100):
        with tenant_context(tenant):
            ApiKey.objects.bulk_create(
                ApiKey(
                    tenant_id=tenant.id,
                    name=f"k{i}",
                    role_code="member",
                    created_by=owner,
                    prefix=f"p{i:011d}",
                    secret_hash="0" * 64,
                )
                for i in range(made, size)
            )
        made = size
        with CaptureQueriesContext(connection) as queries:
            response = client.get(KEYS, {"page_size": 100})
        assert response.status_code == 200
        assert len(response.json()["results"]) == size
        counts[size] = len(queries)
    assert counts[1] == counts[20] == counts[100], counts
