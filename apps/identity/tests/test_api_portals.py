"""`portals/` administration, listing and creating: shape, pagination, permissions, validation, limits.

Input of every kind is refused with a problem naming the field (or a 4xx for a junk body), never a
500; a taken slug is 409 whoever holds it; the plan's portal limit holds. Changing a portal (PATCH,
its guards and the sessions it ends) and the public GET on the same path: `test_api_portals_update.py`.
"""

from __future__ import annotations

import pytest

from apps.common.tenancy import tenant_context
from apps.identity import plugs, rbac
from apps.identity.models import Membership, Portal, Role
from apps.identity.tests.factories import PortalFactory
from apps.identity.tests.portals_support import PORTALS, _events, _portal, _problem

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded")]


# --------------------------------------------------------------------------- list


def test_admin_lists_the_tenants_portals_in_the_documented_shape(admin_api, portal, tenant):
    PortalFactory(tenant=tenant, slug="acme-partners", name="Partners")
    response = admin_api.get(PORTALS)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["next"] is None
    assert body["previous"] is None
    assert [p["slug"] for p in body["results"]] == ["acme-test", "acme-partners"]
    assert body["results"][0] == {
        "slug": "acme-test",
        "name": "Acme Test Portal",
        "theme": {"primary_color": "#3b5bdb", "logo_url": ""},
        "admitted_roles": ["owner", "admin", "member"],
        "signup_policy": "invite",
        "mfa_required": False,
        "features": {},
        "active": True,
    }


def test_portal_list_is_paginated(admin_api, tenant):
    for n in range(3):
        PortalFactory(tenant=tenant, slug=f"acme-extra-{n}")
    first = admin_api.get(PORTALS, {"page_size": 2}).json()
    assert len(first["results"]) == 2
    assert first["next"]
    second = admin_api.get(first["next"]).json()
    assert len(second["results"]) == 2
    assert second["next"] is None
    assert second["previous"]


def test_listing_shows_flags_not_portal_configuration(admin_api, portal):
    portal.features = {"billing": True, "social_providers": ["google"]}
    portal.save()
    (row,) = admin_api.get(PORTALS).json()["results"]
    assert row["features"] == {"billing": True}


# --------------------------------------------------------------------------- permissions


def test_member_without_manage_portal_is_refused_every_admin_door(api_client, member, portal):
    client = api_client(member("member"), portal)
    _problem(client.get(PORTALS), 403)
    _problem(client.post(PORTALS, {"slug": "acme-new", "name": "New"}), 403)
    _problem(client.patch(f"{PORTALS}{portal.slug}/", {"name": "Taken over"}), 403)
    assert not Portal.objects.filter(slug="acme-new").exists()
    assert _portal(portal.slug).name == "Acme Test Portal"


def test_a_custom_role_with_manage_portal_may_administer(api_client, member, portal, tenant):
    with tenant_context(tenant):
        Role.objects.create(tenant=tenant, code="web-team", name="Web team", permissions=["identity.manage_portal"])
        rbac.bump_rbac_version()
    user = member("member")
    with tenant_context(tenant):
        Membership.objects.filter(user=user).update(role=Role.objects.get(code="web-team"))
    portal.admitted_roles = [*portal.admitted_roles, "web-team"]
    portal.save()
    assert api_client(user, portal).get(PORTALS).status_code == 200


def test_without_a_token_the_admin_doors_are_401(api, portal):
    for response in (api.get(PORTALS), api.post(PORTALS, {}), api.patch(f"{PORTALS}{portal.slug}/", {})):
        _problem(response, 401)
        assert response["WWW-Authenticate"].startswith("Bearer")


# --------------------------------------------------------------------------- create


def test_admin_creates_a_portal_with_defaults_and_it_is_audited(admin_api, admin, tenant):
    response = admin_api.post(PORTALS, {"slug": "acme-partners", "name": "Partners"})
    assert response.status_code == 201, response.content
    assert response["Location"] == "/api/v1/identity/portals/acme-partners/"
    assert response.json() == {
        "slug": "acme-partners",
        "name": "Partners",
        "theme": {"primary_color": "#3b5bdb", "logo_url": ""},
        "admitted_roles": ["owner", "admin", "member"],
        "signup_policy": "invite",
        "mfa_required": False,
        "features": {},
        "active": True,
    }
    row = _portal("acme-partners")
    assert row.tenant_id == tenant.id
    assert not row.is_default
    (event,) = _events(tenant, "portal.created")
    assert event.actor_id == admin.id
    assert (event.target_type, event.target_id) == ("identity.portal", str(row.id))
    assert event.data["slug"] == "acme-partners"


def test_create_with_every_field(admin_api, tenant):
    with tenant_context(tenant):
        Role.objects.create(tenant=tenant, code="partner", name="Partner")
    body = {
        "slug": "Acme-Partners",
        "name": "  Partners  ",
        "theme": {"primary_color": "#AABBCC", "logo_url": "https://cdn.example.test/p.svg"},
        "admitted_roles": ["partner", "owner", "partner"],
        "signup_policy": "open",
        "mfa_required": True,
        "features": {"files": True, "billing": False},
        "active": True,
    }
    response = admin_api.post(PORTALS, body)
    assert response.status_code == 201, response.content
    assert response.json() == {
        "slug": "acme-partners",
        "name": "Partners",
        "theme": {"primary_color": "#aabbcc", "logo_url": "https://cdn.example.test/p.svg"},
        "admitted_roles": ["partner", "owner"],
        "signup_policy": "open",
        "mfa_required": True,
        "features": {"files": True, "billing": False},
        "active": True,
    }


def test_a_taken_slug_is_409_whoever_holds_it(admin_api, portal, other_tenant):
    PortalFactory(tenant=other_tenant, slug="globex-test", name="Globex Secret Portal")
    own = _problem(admin_api.post(PORTALS, {"slug": portal.slug, "name": "Again"}), 409)
    foreign = _problem(admin_api.post(PORTALS, {"slug": "globex-test", "name": "Mine now"}), 409)
    assert own["title"] == foreign["title"]
    assert own["detail"].replace(portal.slug, "X") == foreign["detail"].replace("globex-test", "X")
    body = str(foreign)
    assert "Globex" not in body
    assert str(other_tenant.id) not in body
    assert _portal("globex-test").tenant_id == other_tenant.id


def test_the_plans_portal_limit_is_409(admin_api, tenant, monkeypatch):
    monkeypatch.setattr(plugs.plugs, "portal_limit", lambda t: 2)
    assert admin_api.post(PORTALS, {"slug": "acme-two", "name": "Two"}).status_code == 201
    problem = _problem(admin_api.post(PORTALS, {"slug": "acme-three", "name": "Three"}), 409)
    assert problem["limit"] == 2
    assert not Portal.objects.filter(slug="acme-three").exists()
    assert not _events(tenant, "portal.created")[1:]


def test_inactive_portals_do_not_count_but_reactivating_one_does(admin_api, monkeypatch):
    monkeypatch.setattr(plugs.plugs, "portal_limit", lambda t: 1)
    created = admin_api.post(PORTALS, {"slug": "acme-spare", "name": "Spare", "active": False})
    assert created.status_code == 201, created.content
    _problem(admin_api.patch(f"{PORTALS}acme-spare/", {"active": True}), 409)
    assert _portal("acme-spare").active is False


def test_an_unlimited_plan_has_no_portal_limit(admin_api, monkeypatch):
    monkeypatch.setattr(plugs.plugs, "portal_limit", lambda t: None)
    for n in range(3):
        assert admin_api.post(PORTALS, {"slug": f"acme-p{n}", "name": f"P{n}"}).status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "No slug"}, "slug"),
        ({"slug": "acme-x"}, "name"),
        ({"slug": "Bad Slug!", "name": "x"}, "slug"),
        ({"slug": "-acme", "name": "x"}, "slug"),
        ({"slug": "acme_x", "name": "x"}, "slug"),
        ({"slug": "a" * 64, "name": "x"}, "slug"),
        ({"slug": "acme-x", "name": "   "}, "name"),
        ({"slug": "acme-x", "name": "n" * 201}, "name"),
        ({"slug": "acme-x", "name": "bell\x07"}, "name"),
        ({"slug": "acme-x", "name": "x", "theme": {"primary_color": "red"}}, "theme.primary_color"),
        ({"slug": "acme-x", "name": "x", "theme": {"primary_color": "#12345"}}, "theme.primary_color"),
        ({"slug": "acme-x", "name": "x", "theme": {"primary_color": "#gggggg"}}, "theme.primary_color"),
        ({"slug": "acme-x", "name": "x", "theme": {"logo_url": "http://cdn.example.test/l.png"}}, "theme.logo_url"),
        ({"slug": "acme-x", "name": "x", "theme": {"logo_url": "javascript:alert(1)"}}, "theme.logo_url"),
        ({"slug": "acme-x", "name": "x", "theme": {"logo_url": "https://"}}, "theme.logo_url"),
        ({"slug": "acme-x", "name": "x", "theme": "dark"}, "theme"),
        ({"slug": "acme-x", "name": "x", "admitted_roles": []}, "admitted_roles"),
        ({"slug": "acme-x", "name": "x", "admitted_roles": ["ghost"]}, "admitted_roles"),
        ({"slug": "acme-x", "name": "x", "admitted_roles": "owner"}, "admitted_roles"),
        ({"slug": "acme-x", "name": "x", "signup_policy": "sometimes"}, "signup_policy"),
        ({"slug": "acme-x", "name": "x", "features": {"Bad-Key": True}}, "features"),
        ({"slug": "acme-x", "name": "x", "features": {"files": "yes"}}, "features.files"),
        ({"slug": "acme-x", "name": "x", "features": {"files": 1}}, "features.files"),
        ({"slug": "acme-x", "name": "x", "features": ["files"]}, "features"),
        ({"slug": "acme-x", "name": "x", "features": {"social_providers": True}}, "features"),
        ({"slug": "acme-x", "name": "x", "mfa_required": "true"}, "mfa_required"),
        ({"slug": "acme-x", "name": "x", "active": None}, "active"),
    ],
)
def test_invalid_input_is_400_naming_the_field(admin_api, body, field):
    problem = _problem(admin_api.post(PORTALS, body, format="json"), 400)
    assert any(key == field or key.startswith(f"{field}.") for key in problem["errors"]), problem
    assert not Portal.objects.filter(slug="acme-x").exists()


def test_every_invalid_field_is_reported_at_once(admin_api):
    # Type errors (caught while parsing) and rule errors (caught by the service) in one answer:
    # before, the type errors hid the others until they were fixed.
    body = {
        "slug": "Bad Slug!",
        "name": "   ",
        "theme": {"primary_color": "red", "logo_url": ["https://cdn.example.test/l.png"]},
        "admitted_roles": ["ghost"],
        "signup_policy": "sometimes",
        "mfa_required": "true",
        "features": {"files": "yes", "Bad-Key": True},
        "active": None,
    }
    problem = _problem(admin_api.post(PORTALS, body, format="json"), 400)
    assert set(problem["errors"]) == {
        "slug",
        "name",
        "theme.primary_color",
        "theme.logo_url",
        "admitted_roles",
        "signup_policy",
        "mfa_required",
        "features.files",
        "active",
    }, problem
    assert not Portal.objects.filter(name="   ").exists()


def test_patch_reports_every_invalid_field_at_once(admin_api, portal):
    body = {"slug": "acme-renamed", "name": "", "active": "no", "admitted_roles": ["ghost"]}
    problem = _problem(admin_api.patch(f"{PORTALS}{portal.slug}/", body, format="json"), 400)
    assert set(problem["errors"]) == {"slug", "name", "active", "admitted_roles"}, problem
    assert _portal(portal.slug).name == "Acme Test Portal"


def test_type_errors_alone_keep_the_validation_error_code(admin_api):
    problem = _problem(admin_api.post(PORTALS, {"slug": "acme-x", "name": "x", "active": "yes"}, format="json"), 400)
    assert problem["type"].endswith("/validation_error")
    assert set(problem["errors"]) == {"active"}


@pytest.mark.parametrize(
    ("payload", "content_type", "status"),
    [
        ("[1, 2]", "application/json", 400),
        ('"portal"', "application/json", 400),
        ("{not json", "application/json", 400),
        ("\xff\xfe", "application/json", 400),
        ("slug=acme-x&name=x", "application/x-www-form-urlencoded", 415),
        ("<portal/>", "text/xml", 415),
    ],
)
def test_junk_bodies_are_client_errors_never_500(admin_api, portal, payload, content_type, status):
    for response in (
        admin_api.generic("POST", PORTALS, payload, content_type=content_type),
        admin_api.generic("PATCH", f"{PORTALS}{portal.slug}/", payload, content_type=content_type),
    ):
        _problem(response, status)


def test_script_in_a_name_is_stored_and_returned_as_data(admin_api, api):
    name = "<script>alert('x')</script>"
    response = admin_api.post(PORTALS, {"slug": "acme-xss", "name": name})
    assert response.status_code == 201
    assert response["Content-Type"] == "application/json"
    assert response.json()["name"] == name
    assert _portal("acme-xss").name == name
    assert api.get(f"{PORTALS}acme-xss/").json()["name"] == name


def test_tenant_fields_in_the_body_are_ignored(admin_api, tenant, other_tenant):
    response = admin_api.post(
        PORTALS,
        {
            "slug": "acme-own",
            "name": "Own",
            "tenant_id": str(other_tenant.id),
            "tenant": other_tenant.slug,
            "is_default": True,
        },
    )
    assert response.status_code == 201, response.content
    row = _portal("acme-own")
    assert row.tenant_id == tenant.id
    assert not row.is_default
