"""`portals/{slug}/` administration, changing a portal: PATCH, its guards, the sessions it ends, audit.

A change that takes access away (deactivation, a role dropped, MFA required) ends those sessions
at once; no change may lock every owner out. GET `portals/{slug}/` stays the public metadata
endpoint on the same path as the admin PATCH; both doors are exercised here. Listing and
creating: `test_api_portals.py`.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.identity.models import Portal
from apps.identity.tests.factories import PortalFactory
from apps.identity.tests.portals_support import PORTALS, _events, _portal, _problem

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded")]

ME = "/api/v1/identity/auth/me/"


# --------------------------------------------------------------------------- update


def test_patch_changes_only_what_is_sent_and_is_audited(admin_api, admin, portal, tenant):
    portal.theme = {"primary_color": "#112233", "logo_url": "https://cdn.example.test/old.png"}
    portal.features = {"billing": True, "social_providers": ["google"]}
    portal.save()
    response = admin_api.patch(
        f"{PORTALS}{portal.slug}/",
        {"name": "Renamed", "theme": {"primary_color": "#445566"}, "features": {"files": True}},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["name"] == "Renamed"
    assert body["theme"] == {"primary_color": "#445566", "logo_url": "https://cdn.example.test/old.png"}
    assert body["features"] == {"files": True}
    assert body["signup_policy"] == "invite"
    assert body["admitted_roles"] == ["owner", "admin", "member"]
    row = _portal(portal.slug)
    # The flags are replaced; the social providers (configuration, not a flag) stay.
    assert row.features == {"social_providers": ["google"], "files": True}
    (event,) = _events(tenant, "portal.updated")
    assert event.actor_id == admin.id
    assert set(event.data["changes"]) == {"name", "theme", "features"}
    assert event.data["changes"]["name"] == {"from": "Acme Test Portal", "to": "Renamed"}
    assert event.data["changes"]["features"] == {"from": {"billing": True}, "to": {"files": True}}


def test_public_metadata_shows_the_change(admin_api, api, portal):
    admin_api.patch(f"{PORTALS}{portal.slug}/", {"theme": {"primary_color": "#010203"}, "signup_policy": "open"})
    public = api.get(f"{PORTALS}{portal.slug}/").json()
    assert public["theme"]["primary_color"] == "#010203"
    assert public["signup_policy"] == "open"


def test_a_patch_that_changes_nothing_records_nothing(admin_api, portal, tenant):
    response = admin_api.patch(f"{PORTALS}{portal.slug}/", {"name": portal.name, "slug": portal.slug})
    assert response.status_code == 200
    assert _events(tenant, "portal.updated") == []


def test_the_slug_cannot_change(admin_api, portal):
    problem = _problem(admin_api.patch(f"{PORTALS}{portal.slug}/", {"slug": "acme-renamed"}), 400)
    assert "slug" in problem["errors"]
    assert Portal.objects.filter(slug=portal.slug).exists()
    assert not Portal.objects.filter(slug="acme-renamed").exists()


def test_patch_validates_like_create(admin_api, portal):
    problem = _problem(
        admin_api.patch(
            f"{PORTALS}{portal.slug}/",
            {"theme": {"primary_color": "blue", "logo_url": "ftp://x"}, "admitted_roles": ["ghost"], "name": ""},
        ),
        400,
    )
    assert {"theme.primary_color", "theme.logo_url", "admitted_roles", "name"} <= set(problem["errors"])
    assert _portal(portal.slug).name == "Acme Test Portal"


def test_unknown_slug_is_404(admin_api):
    _problem(admin_api.patch(f"{PORTALS}no-such-portal/", {"name": "x"}), 404)


def test_the_default_portal_cannot_be_deactivated(admin_api, portal, tenant):
    PortalFactory(tenant=tenant, slug="acme-second")
    problem = _problem(admin_api.patch(f"{PORTALS}{portal.slug}/", {"active": False}), 409)
    assert "default" in problem["detail"]
    assert _portal(portal.slug).active


def test_the_last_active_portal_cannot_be_deactivated(admin_api, portal, tenant):
    second = PortalFactory(tenant=tenant, slug="acme-second")
    Portal.objects.filter(id=portal.id).update(is_default=False, active=False)
    _problem(admin_api.patch(f"{PORTALS}{second.slug}/", {"active": False}), 409)
    assert _portal(second.slug).active


def test_some_active_portal_must_admit_owners(admin_api, portal, tenant):
    _problem(admin_api.patch(f"{PORTALS}{portal.slug}/", {"admitted_roles": ["admin", "member"]}), 409)
    PortalFactory(tenant=tenant, slug="acme-staff", admitted_roles=["owner"])
    response = admin_api.patch(f"{PORTALS}{portal.slug}/", {"admitted_roles": ["admin", "member"]})
    assert response.status_code == 200, response.content


def test_harmless_changes_pass_the_guards_even_where_they_would_not(admin_api, portal):
    Portal.objects.filter(id=portal.id).update(admitted_roles=["member"])  # no active portal admits owners
    assert admin_api.patch(f"{PORTALS}{portal.slug}/", {"name": "Renamed"}).status_code == 200


def test_a_non_default_portal_can_be_deactivated_and_reactivated(admin_api, tenant):
    PortalFactory(tenant=tenant, slug="acme-second")
    off = admin_api.patch(f"{PORTALS}acme-second/", {"active": False})
    assert off.status_code == 200
    assert off.json()["active"] is False
    on = admin_api.patch(f"{PORTALS}acme-second/", {"active": True})
    assert on.status_code == 200
    assert on.json()["active"] is True


# --------------------------------------------------------------------------- sessions that lose access


@pytest.fixture
def second(tenant):
    return PortalFactory(tenant=tenant, slug="acme-second", name="Second")


def test_deactivating_a_portal_ends_its_sessions_at_once(admin_api, api_client, member, second):
    user = member("member")
    there = api_client(user, second)
    assert there.get(ME).status_code == 200
    assert admin_api.patch(f"{PORTALS}{second.slug}/", {"active": False}).status_code == 200
    assert there.get(ME).status_code == 401
    assert admin_api.get(PORTALS).status_code == 200  # the admin's session elsewhere lives on


def test_dropping_a_role_ends_only_that_roles_sessions(admin_api, api_client, member, admin, second):
    plain = api_client(member("member"), second)
    staff = api_client(admin, second)
    response = admin_api.patch(f"{PORTALS}{second.slug}/", {"admitted_roles": ["owner", "admin"]})
    assert response.status_code == 200, response.content
    assert plain.get(ME).status_code == 401
    assert staff.get(ME).status_code == 200


def test_requiring_mfa_ends_sessions_without_it(admin_api, api_client, member, second, tenant):
    there = api_client(member("member"), second)
    assert admin_api.patch(f"{PORTALS}{second.slug}/", {"mfa_required": True}).status_code == 200
    assert there.get(ME).status_code == 401
    (event,) = _events(tenant, "portal.updated")
    assert event.data["sessions_ended"] == 1


def test_harmless_changes_end_no_session(admin_api, api_client, member, second):
    there = api_client(member("member"), second)
    admin_api.patch(f"{PORTALS}{second.slug}/", {"name": "Renamed", "admitted_roles": ["owner", "admin", "member"]})
    assert there.get(ME).status_code == 200


# --------------------------------------------------------------------------- one path, two doors


def test_the_detail_path_is_public_for_get_and_head(api, portal):
    assert api.get(f"{PORTALS}{portal.slug}/").status_code == 200
    assert api.head(f"{PORTALS}{portal.slug}/").status_code == 200


def test_other_methods_on_the_detail_path_are_405_with_allow(admin_api, portal):
    for method in ("DELETE", "PUT", "POST"):
        response = admin_api.generic(method, f"{PORTALS}{portal.slug}/", "{}", content_type="application/json")
        problem = _problem(response, 405)
        assert problem["status"] == 405
        assert response["Allow"] == "GET, PATCH, HEAD, OPTIONS"
    assert Portal.objects.filter(slug=portal.slug).exists()


def test_options_names_every_method(portal):
    response = APIClient().options(f"{PORTALS}{portal.slug}/")
    assert response.status_code == 200
    assert response["Allow"] == "GET, PATCH, HEAD, OPTIONS"


def test_a_bearer_token_on_the_public_get_changes_nothing(admin_api, portal):
    response = admin_api.get(f"{PORTALS}{portal.slug}/")
    assert response.status_code == 200
    assert set(response.json()) == {
        "slug",
        "name",
        "tenant",
        "theme",
        "features",
        "login_methods",
        "signup_policy",
        "mfa_required",
    }


def test_method_dispatch_keeps_each_views_transaction_as_django_would_have():
    """Django reads the non-atomic mark from the URL's callback: the dispatcher carries it for its views."""
    from apps.identity.api.auth_views import LoginView
    from apps.identity.api.views import MethodDispatch, PortalPublicView

    login = LoginView.as_view()
    mixed = MethodDispatch(GET=PortalPublicView.as_view(), POST=login)
    assert mixed._non_atomic_requests == {"default"}
    assert mixed.views["POST"] is login  # left outside any transaction, as it asked
    assert hasattr(mixed.views["GET"], "__wrapped__")  # wrapped in the request transaction it expects
    assert getattr(mixed.views["GET"], "_non_atomic_requests", set()) == set()
    plain = MethodDispatch(GET=PortalPublicView.as_view())
    assert not hasattr(plain, "_non_atomic_requests")


@pytest.mark.django_db(transaction=True)
def test_a_public_read_behind_the_dispatcher_still_runs_in_a_transaction(portal):
    from django.db import connection

    from apps.identity.api import views

    seen = []
    original = views.PortalPublicView.get

    def spy(self, request, slug):
        seen.append(connection.in_atomic_block)
        return original(self, request, slug)

    views.PortalPublicView.get = spy
    try:
        assert APIClient().get(f"/api/v1/identity/portals/{portal.slug}/").status_code == 200
    finally:
        views.PortalPublicView.get = original
    assert seen == [True]
