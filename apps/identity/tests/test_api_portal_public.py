"""GET /api/v1/identity/portals/{slug}/: what a login page needs, and nothing more."""

from __future__ import annotations

import pytest

from apps.identity.models import Tenant
from apps.identity.tests.factories import PortalFactory

pytestmark = pytest.mark.django_db


def test_public_portal_metadata_has_the_documented_shape(client, portal):
    portal.theme = {"primary_color": "#112233", "logo_url": "https://cdn.example.test/logo.png"}
    portal.features = {"billing": True, "files": False}
    portal.mfa_required = True
    portal.save()
    response = client.get(f"/api/v1/identity/portals/{portal.slug}/")
    assert response.status_code == 200
    assert response.json() == {
        "slug": "acme-test",
        "name": "Acme Test Portal",
        "tenant": {"slug": "acme-test", "name": "Acme Test"},
        "theme": {"primary_color": "#112233", "logo_url": "https://cdn.example.test/logo.png"},
        "features": {"billing": True, "files": False},
        "login_methods": ["password"],
        "signup_policy": "invite",
        "mfa_required": True,
    }


def test_unknown_portal_is_404_problem(client):
    response = client.get("/api/v1/identity/portals/nope/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 404


def test_inactive_portal_looks_unknown(client, portal):
    portal.active = False
    portal.save()
    assert client.get(f"/api/v1/identity/portals/{portal.slug}/").status_code == 404


def test_offboarded_tenants_portal_looks_unknown(client, portal, tenant):
    tenant.status = Tenant.Status.OFFBOARDED
    tenant.save()
    assert client.get(f"/api/v1/identity/portals/{portal.slug}/").status_code == 404


def test_metadata_leaks_no_internal_ids(client, portal):
    body = client.get(f"/api/v1/identity/portals/{portal.slug}/").content.decode()
    assert str(portal.id) not in body
    assert str(portal.tenant_id) not in body


def test_script_in_a_portal_name_is_returned_as_data_not_markup(client, tenant):
    PortalFactory(tenant=tenant, slug="xss", name="<script>alert(1)</script>")
    response = client.get("/api/v1/identity/portals/xss/")
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["name"] == "<script>alert(1)</script>"


def test_public_endpoint_reads_portal_and_tenant_in_one_query(client, portal):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"/api/v1/identity/portals/{portal.slug}/").status_code == 200
    # Savepoints of the request's transaction aside, one SELECT with the tenant joined.
    selects = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1
