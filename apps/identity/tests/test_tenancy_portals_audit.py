"""Tenant walls of `portals/` and `audit-events/`: another tenant's portals and events are never reachable.

Tenant A's admin tries every door on tenant B's objects: B's portals are
absent from A's list, a PATCH of B's slug is 404 and leaves B's row as it was,
taking B's slug is a conflict that names nobody, B's custom roles are unknown
to A, and B's audit events never show up in A's trail (whatever the cursor).
"""

from __future__ import annotations

import base64
from urllib.parse import urlencode

import pytest
from django.forms.models import model_to_dict

from apps.common.tenancy import tenant_context
from apps.identity.models import AuditEvent, Portal, Role
from apps.identity.services.audit import audit_record
from apps.identity.tests.factories import PortalFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded")]

PORTALS = "/api/v1/identity/portals/"
EVENTS = "/api/v1/identity/audit-events/"


@pytest.fixture
def a_admin(api_client, member, portal):
    """An owner of tenant A (the `tenant` fixture), signed in to A's portal."""
    return api_client(member("owner"), portal)


@pytest.fixture
def b_portal(other_tenant):
    return PortalFactory(
        tenant=other_tenant,
        slug="globex-test",
        name="Globex Portal",
        is_default=True,
        theme={"primary_color": "#000000", "logo_url": ""},
        features={"secret_flag": True},
    )


@pytest.fixture
def b_admin(api_client, member, other_tenant, b_portal):
    return api_client(member("owner", of=other_tenant), b_portal)


def snapshot(portal: Portal) -> dict:
    portal.refresh_from_db()
    return {**model_to_dict(portal), "updated_at": portal.updated_at}


def test_b_portals_are_absent_from_a_list(a_admin, b_portal, tenant):
    PortalFactory(tenant=tenant, slug="acme-second")
    slugs = [p["slug"] for p in a_admin.get(PORTALS, {"page_size": 100}).json()["results"]]
    assert slugs == ["acme-test", "acme-second"]
    assert b_portal.slug not in slugs


@pytest.mark.parametrize(
    "body",
    [
        {"name": "Owned"},
        {"active": False},
        {"admitted_roles": ["member"]},
        {"theme": {"primary_color": "#ff0000"}},
        {"features": {}},
        {"slug": "acme-stolen"},
        {},
    ],
)
def test_patching_b_portal_is_404_and_b_unchanged(a_admin, b_portal, other_tenant, body):
    before = snapshot(b_portal)
    response = a_admin.patch(f"{PORTALS}{b_portal.slug}/", body, format="json")
    assert response.status_code == 404, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert snapshot(b_portal) == before
    with tenant_context(other_tenant):
        assert not AuditEvent.objects.filter(action="portal.updated").exists()


def test_404_for_b_looks_like_404_for_nothing(a_admin, b_portal):
    foreign = a_admin.patch(f"{PORTALS}{b_portal.slug}/", {"name": "x"}).json()
    missing = a_admin.patch(f"{PORTALS}no-such-portal/", {"name": "x"}).json()
    assert foreign == missing


def test_taking_b_slug_is_409_naming_nobody(a_admin, b_portal, other_tenant, tenant):
    response = a_admin.post(PORTALS, {"slug": b_portal.slug, "name": "Mine"})
    assert response.status_code == 409
    text = response.content.decode()
    assert "Globex" not in text
    assert str(other_tenant.id) not in text
    assert Portal.objects.get(slug=b_portal.slug).tenant_id == other_tenant.id
    assert not Portal.objects.filter(tenant=tenant, name="Mine").exists()


def test_a_tenant_id_in_the_body_does_not_create_in_b(a_admin, tenant, other_tenant):
    response = a_admin.post(PORTALS, {"slug": "acme-planted", "name": "Planted", "tenant_id": str(other_tenant.id)})
    assert response.status_code == 201
    assert Portal.objects.get(slug="acme-planted").tenant_id == tenant.id
    assert not Portal.objects.filter(tenant=other_tenant, slug="acme-planted").exists()


def test_b_custom_role_is_unknown_to_a(a_admin, other_tenant, portal):
    with tenant_context(other_tenant):
        Role.objects.create(tenant=other_tenant, code="globex-vip", name="VIP")
    create = a_admin.post(PORTALS, {"slug": "acme-vip", "name": "VIP", "admitted_roles": ["globex-vip"]})
    assert create.status_code == 400
    assert "admitted_roles" in create.json()["errors"]
    patch = a_admin.patch(f"{PORTALS}{portal.slug}/", {"admitted_roles": ["owner", "globex-vip"]})
    assert patch.status_code == 400
    portal.refresh_from_db()
    assert "globex-vip" not in portal.admitted_roles


def test_b_admin_sees_only_b(b_admin, b_portal, portal):
    slugs = [p["slug"] for p in b_admin.get(PORTALS).json()["results"]]
    assert slugs == [b_portal.slug]
    assert b_admin.patch(f"{PORTALS}{portal.slug}/", {"name": "x"}).status_code == 404


# --------------------------------------------------------------------------- audit events


def test_b_audit_events_never_appear_in_a_trail(a_admin, b_admin, tenant, other_tenant, b_portal):
    for n in range(5):
        audit_record(tenant=other_tenant, action=f"globex.secret.{n}", target=("thing", "b"))
    audit_record(tenant=tenant, action="acme.visible")
    b_ids = set()
    with tenant_context(other_tenant):
        b_ids = {str(i) for i in AuditEvent.objects.values_list("id", flat=True)}
    rows = []
    url = f"{EVENTS}?page_size=2"
    while url:
        body = a_admin.get(url).json()
        rows += body["results"]
        url = body["next"]
    assert "acme.visible" in {r["action"] for r in rows}
    assert not {r["id"] for r in rows} & b_ids
    assert not any(r["action"].startswith("globex.") for r in rows)
    # And the other way round.
    b_rows = b_admin.get(EVENTS, {"page_size": 100}).json()["results"]
    assert "acme.visible" not in {r["action"] for r in b_rows}


def test_b_cursor_used_by_a_shows_only_a_events(a_admin, b_admin, tenant, other_tenant):
    for n in range(4):
        audit_record(tenant=other_tenant, action=f"globex.secret.{n}")
        audit_record(tenant=tenant, action=f"acme.event.{n}")
    b_next = b_admin.get(EVENTS, {"page_size": 1}).json()["next"]
    response = a_admin.get(b_next)
    assert response.status_code == 200
    assert all(not r["action"].startswith("globex.") for r in response.json()["results"])


def test_a_hand_made_cursor_cannot_reach_b(a_admin, other_tenant, tenant):
    audit_record(tenant=other_tenant, action="globex.secret")
    cursor = base64.b64encode(urlencode({"p": "2999-01-01 00:00:00+00:00"}).encode()).decode()
    rows = a_admin.get(EVENTS, {"cursor": cursor, "page_size": 100}).json()["results"]
    assert all(not r["action"].startswith("globex.") for r in rows)


def test_portal_changes_are_audited_in_the_acting_tenant_only(a_admin, tenant, other_tenant, b_portal):
    assert a_admin.post(PORTALS, {"slug": "acme-new", "name": "New"}).status_code == 201
    with tenant_context(tenant):
        assert AuditEvent.objects.filter(action="portal.created").count() == 1
    with tenant_context(other_tenant):
        assert not AuditEvent.objects.filter(action="portal.created").exists()
