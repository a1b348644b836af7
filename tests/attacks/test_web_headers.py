"""Every HTML page carries the browser's protections (docs/security.md, "API input and web").

The walk visits every portal page the URLconf routes (tests/test_url_walker.py lists them), with
the ids of real rows of the tenant, signed in as an owner of a `pro` tenant, over HTTPS (the test
client's `secure=True` stands for the TLS proxy: Django sends HSTS only on secure requests). Each
answer — the page, a redirect, a 403/404/405 page — must carry HSTS, a CSP without inline scripts
(`object-src 'none'`, `base-uri 'none'`, `frame-ancestors 'none'`), nosniff, Referrer-Policy,
Permissions-Policy and Cross-Origin-Opener-Policy. A new page is walked without editing this file.
"""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from apps.common.tests.test_headers import assert_security_headers, csp_directives
from apps.identity.models import AuthSession, Invitation
from apps.identity.tests.api_keys_support import make_key
from apps.identity.tests.factories import PASSWORD
from apps.identity.tests.members_roles_support import custom_role
from apps.portals.base import PortalPage, PublicPortalPage
from apps.portals.tests.conftest import csrf_post
from apps.portals.tests.files_support import stored
from apps.portals.tests.members_support import invite, membership_of
from apps.portals.tests.webhooks_support import make_endpoint
from tests.test_url_walker import ROUTES, Route

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded", "pro_plan")]


def _is_page(route: Route) -> bool:
    cls = route.view_class
    return (
        route.route.startswith(("portal/", "social/"))
        or route.route == ""
        or (cls is not None and issubclass(cls, (PortalPage, PublicPortalPage)))
    )


PAGES = [route for route in ROUTES if _is_page(route)]
# Pages that must show themselves (200) to an owner, given real ids: the walk is no walk of 404s.
MUST_SHOW = {
    "dashboard/", "members/", "members/invitations/", "members/<str:membership_id>/remove/",
    "members/invitations/<str:invitation_id>/revoke/", "security/", "security/totp/", "profile/", "onboarding/",
    "billing/", "files/", "files/<str:file_id>/delete/", "roles/", "roles/new/",
    "roles/<str:code>/", "roles/<str:code>/delete/", "settings/", "api-keys/", "api-keys/<str:key_id>/revoke/",
    "webhooks/", "webhooks/<str:endpoint_id>/", "webhooks/<str:endpoint_id>/delete/",
    "security/sessions/<str:session_id>/revoke/", "password/reset/", "email/resend/", "members.csv", "theme.css",
}  # fmt: skip


def assert_html_protections(response, where: str) -> None:
    assert response["Content-Type"].startswith("text/html"), where
    assert_security_headers(response)
    assert response["Cross-Origin-Opener-Policy"] == "same-origin", where
    script_src = csp_directives(response["Content-Security-Policy"]).get("script-src", [])
    assert script_src == ["'self'"], where  # no inline, no eval, no other host


@pytest.fixture
def owner_web(tenant, portal, member):
    """A browser signed in to the portal as an owner (through the login form)."""
    owner = member("owner")
    web = Client(enforce_csrf_checks=True)
    response = csrf_post(web, f"/portal/{portal.slug}/login/", {"email": owner.email, "password": PASSWORD})
    assert response.status_code == 302, response.content
    return web, owner


@pytest.fixture
def ids(tenant, portal, member, owner_web, settings, tmp_path):
    """A real row of the tenant for every id a portal URL takes."""
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = True
    settings.MEDIA_ROOT = str(tmp_path / "media")  # the stored file goes under this test's temporary directory
    _web, owner = owner_web
    other = member("member")
    key, _full = make_key(tenant, owner)
    return {
        "slug": portal.slug,
        "membership_id": str(membership_of(other, tenant).id),
        "invitation_id": str(_open_invitation(tenant, owner).id),
        "session_id": str(AuthSession.objects.filter(user=owner).latest("created_at").id),
        "code": custom_role(tenant, "auditor", ["identity.view_member"]).code,
        "file_id": str(stored(tenant, owner).id),
        "key_id": str(key.id),
        "endpoint_id": str(make_endpoint(tenant, owner, "http://127.0.0.1:9/in").id),
        "delivery_id": str(uuid.uuid4()),
        "provider": "google",
        "provider_id": "google",
        "link_id": str(uuid.uuid4()),
    }


def _open_invitation(tenant, owner) -> Invitation:
    return invite(tenant, "invited@example.test", inviter=owner)


def url_of(route: Route, ids: dict[str, str]) -> str:
    path = "/" + route.route
    for name, value in ids.items():
        for converter in ("slug", "str"):
            path = path.replace(f"<{converter}:{name}>", value)
    assert "<" not in path, f"no id for {route.route}: add one to the `ids` fixture"
    return path


def test_the_walk_sees_every_portal_page():
    labels = {route.label for route in PAGES}
    assert "apps.portals.views.members.MembersPage" in labels
    assert "apps.portals.views.social.SocialCallbackView" in labels
    assert "apps.portals.views.pages.landing" in labels
    assert len({route.route for route in PAGES if route.route.startswith("portal/")}) >= 50


def test_every_portal_page_carries_the_protections_signed_in(owner_web, ids, portal):
    web, _owner = owner_web
    shown = set()
    for route in PAGES:
        path = url_of(route, ids)
        response = web.get(path, secure=True)
        where = f"GET {path} -> {response.status_code}"
        assert response.status_code < 500, where
        if response["Content-Type"].startswith("text/html"):
            assert_html_protections(response, where)
        else:  # the stylesheet, the CSV download: not HTML, the same headers all the same
            assert_security_headers(response)
        if response.status_code == 200:
            shown.add(route.route.removeprefix("portal/<slug:slug>/"))
    assert MUST_SHOW - shown == set()


def test_every_public_page_carries_the_protections_signed_out(client, ids):
    for route in PAGES:
        cls = route.view_class
        if cls is not None and issubclass(cls, PortalPage):
            continue  # signed out, a redirect to the login page
        path = url_of(route, ids)
        response = client.get(path, secure=True)
        assert response.status_code < 500, path
        if response["Content-Type"].startswith("text/html"):
            assert_html_protections(response, f"GET {path} -> {response.status_code}")


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/portal/acme-test/settings/", 403),  # a member without the permission
        ("/portal/no-such-portal/login/", 404),
        ("/portal/acme-test/security/sessions/not-an-id/revoke/", 404),
        ("/portal/acme-test/dashboard/", 200),
        ("/no-such-page/", 404),
    ],
)
def test_error_pages_carry_the_protections(client, portal, member, path, status):
    user = member("member")
    response = csrf_post(client, f"/portal/{portal.slug}/login/", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    response = client.get(path, secure=True)
    assert response.status_code == status
    assert_html_protections(response, path)


def test_a_form_post_answer_carries_the_protections(owner_web, portal):
    web, _owner = owner_web
    page = f"/portal/{portal.slug}/roles/new/"
    # Over HTTPS, Django's CSRF check also wants a same-origin Referer, as a browser sends.
    response = csrf_post(web, page, {"code": "", "name": ""}, secure=True, HTTP_REFERER=f"https://testserver{page}")
    assert response.status_code == 400
    assert_html_protections(response, "POST roles/new/")


def test_a_post_without_csrf_gets_a_protected_403(owner_web, portal):
    web, _owner = owner_web
    response = web.post(f"/portal/{portal.slug}/roles/new/", {"code": "x", "name": "x"}, secure=True)
    assert response.status_code == 403
    assert_html_protections(response, "POST roles/new/ without CSRF")
