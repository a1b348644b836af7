"""Tenant B's id or code in every place an id enters a route: the attacker (tenant A) gets 404, B is unchanged.

The tables below name every route of the URL conf that takes an id, a code or a
slug in its path (the walker test fails when a new one has no case here and no
reason to be left out). Each case is run with A's owner, the strongest A
principal, and B's whole state (`two_tenants.b_state`, read in B's own tenant
context) is compared before and after. Ids in bodies and on forms:
`test_cross_tenant_bodies.py`.
"""

from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

from apps.files.storage import download_token
from apps.identity.tests.api_keys_support import key_client, make_key
from tests.attacks.two_tenants import World, b_state, web_client
from tests.test_url_walker import ROUTES, Route

pytestmark = pytest.mark.django_db

# (method, the route as the URL conf spells it, the path with `{name}` for an id of B, the body)
API_CASES: list[tuple[str, str, str, dict | None]] = [
    ("PATCH", "api/v1/identity/members/<uuid:id>/", "/api/v1/identity/members/{membership}/", {"role": "admin"}),
    ("DELETE", "api/v1/identity/members/<uuid:id>/", "/api/v1/identity/members/{membership}/", None),
    ("PATCH", "api/v1/identity/roles/<slug:code>/", "/api/v1/identity/roles/{role}/", {"name": "Taken"}),
    ("DELETE", "api/v1/identity/roles/<slug:code>/", "/api/v1/identity/roles/{role}/", None),
    ("DELETE", "api/v1/identity/invitations/<uuid:pk>/", "/api/v1/identity/invitations/{invitation}/", None),
    ("PATCH", "api/v1/identity/portals/<slug:slug>/", "/api/v1/identity/portals/{portal}/", {"name": "Taken"}),
    ("DELETE", "api/v1/identity/auth/sessions/<uuid:id>/", "/api/v1/identity/auth/sessions/{session}/", None),
    ("GET", "api/v1/files/<uuid:pk>/", "/api/v1/files/{file}/", None),
    ("DELETE", "api/v1/files/<uuid:pk>/", "/api/v1/files/{file}/", None),
    ("DELETE", "api/v1/integrations/api-keys/<uuid:pk>/", "/api/v1/integrations/api-keys/{api_key}/", None),
    ("GET", "api/v1/integrations/webhooks/<uuid:pk>/", "/api/v1/integrations/webhooks/{endpoint}/", None),
    (
        "PATCH",
        "api/v1/integrations/webhooks/<uuid:pk>/",
        "/api/v1/integrations/webhooks/{endpoint}/",
        {"url": "https://attacker.example.test/", "active": True},
    ),
    ("DELETE", "api/v1/integrations/webhooks/<uuid:pk>/", "/api/v1/integrations/webhooks/{endpoint}/", None),
    (
        "POST",
        "api/v1/integrations/webhooks/<uuid:pk>/rotate-secret/",
        "/api/v1/integrations/webhooks/{endpoint}/rotate-secret/",
        {},
    ),
    ("POST", "api/v1/integrations/webhooks/<uuid:pk>/test/", "/api/v1/integrations/webhooks/{endpoint}/test/", {}),
    (
        "GET",
        "api/v1/integrations/webhooks/<uuid:pk>/deliveries/",
        "/api/v1/integrations/webhooks/{endpoint}/deliveries/",
        None,
    ),
    (
        "POST",
        "api/v1/integrations/deliveries/<uuid:pk>/redeliver/",
        "/api/v1/integrations/deliveries/{delivery}/redeliver/",
        {},
    ),
    (
        "POST",
        "api/v1/flows/onboarding/steps/<slug:code>/complete/",
        "/api/v1/flows/onboarding/steps/{step}/complete/",
        {},
    ),
]

_P = "portal/<slug:slug>/"
# (method, route, the path under /portal/<A's slug>/, the form's data)
PAGE_CASES: list[tuple[str, str, str, dict | None]] = [
    ("POST", _P + "members/<str:membership_id>/role/", "members/{membership}/role/", {"role": "admin"}),
    ("GET", _P + "members/<str:membership_id>/remove/", "members/{membership}/remove/", None),
    ("POST", _P + "members/<str:membership_id>/remove/", "members/{membership}/remove/", {}),
    (
        "GET",
        _P + "members/invitations/<str:invitation_id>/revoke/",
        "members/invitations/{invitation}/revoke/",
        None,
    ),
    ("POST", _P + "members/invitations/<str:invitation_id>/revoke/", "members/invitations/{invitation}/revoke/", {}),
    ("GET", _P + "security/sessions/<str:session_id>/revoke/", "security/sessions/{session}/revoke/", None),
    ("POST", _P + "security/sessions/<str:session_id>/revoke/", "security/sessions/{session}/revoke/", {}),
    ("POST", _P + "onboarding/steps/<str:code>/complete/", "onboarding/steps/{step}/complete/", {}),
    ("GET", _P + "files/<str:file_id>/download/", "files/{file}/download/", None),
    ("GET", _P + "files/<str:file_id>/delete/", "files/{file}/delete/", None),
    ("POST", _P + "files/<str:file_id>/delete/", "files/{file}/delete/", {}),
    ("GET", _P + "roles/<str:code>/", "roles/{role}/", None),
    ("POST", _P + "roles/<str:code>/", "roles/{role}/", {"name": "Taken", "permissions": ["identity.view_member"]}),
    ("GET", _P + "roles/<str:code>/delete/", "roles/{role}/delete/", None),
    ("POST", _P + "roles/<str:code>/delete/", "roles/{role}/delete/", {}),
    ("GET", _P + "security/social/<str:link_id>/unlink/", "security/social/{social_link}/unlink/", None),
    ("POST", _P + "security/social/<str:link_id>/unlink/", "security/social/{social_link}/unlink/", {}),
    ("GET", _P + "api-keys/<str:key_id>/revoke/", "api-keys/{api_key}/revoke/", None),
    ("POST", _P + "api-keys/<str:key_id>/revoke/", "api-keys/{api_key}/revoke/", {}),
    ("POST", _P + "webhooks/deliveries/<str:delivery_id>/redeliver/", "webhooks/deliveries/{delivery}/redeliver/", {}),
    ("GET", _P + "webhooks/<str:endpoint_id>/", "webhooks/{endpoint}/", None),
    (
        "POST",
        _P + "webhooks/<str:endpoint_id>/",
        "webhooks/{endpoint}/",
        {"url": "https://attacker.example.test/", "events": ["member.added"]},
    ),
    ("POST", _P + "webhooks/<str:endpoint_id>/test/", "webhooks/{endpoint}/test/", {}),
    ("POST", _P + "webhooks/<str:endpoint_id>/rotate-secret/", "webhooks/{endpoint}/rotate-secret/", {}),
    ("GET", _P + "webhooks/<str:endpoint_id>/delete/", "webhooks/{endpoint}/delete/", None),
    ("POST", _P + "webhooks/<str:endpoint_id>/delete/", "webhooks/{endpoint}/delete/", {}),
]

# A GET that reads no row and sends the browser back to the list: a redirect within A's portal is the answer.
GET_IGNORES_THE_ID = {("GET", _P + "security/social/<str:link_id>/unlink/")}

# Routes whose parameter names no row of a tenant, each with the reason and the test that covers it.
NOT_A_TENANT_ID: dict[tuple[str, str], str] = {
    ("GET", "api/v1/identity/portals/<slug:slug>/"): "any portal's public login metadata, by design",
    ("GET", "api/v1/files/download/<str:token>/"): "the signed grant: test_a_download_grant_is_bound_to_its_tenant",
    ("POST", _P + "social/<slug:provider>/login/"): "a provider name from settings, not a tenant's row",
    ("POST", _P + "security/social/<slug:provider>/link/"): "a provider name from settings, not a tenant's row",
    ("GET", "social/<slug:provider_id>/callback/"): "a provider name; the state in the browser's session decides",
}


def _params(route: Route) -> list[str]:
    """The route's path parameters, the portal's own slug aside (test_a_portal_session_opens_no_page_of_another)."""
    rest = route.route.removeprefix(_P) if route.route.startswith(_P) else route.route
    return re.findall(r"<[^>]+>", rest)


def uncovered(routes: list[Route]) -> list[str]:
    """Each method of a route taking an id that has no case and no reason to be left out."""
    covered = {(m, r) for m, r, _, _ in API_CASES + PAGE_CASES} | set(NOT_A_TENANT_ID)
    return sorted(
        f"{method} /{route.route}"
        for route in routes
        if _params(route)
        for method in (route.methods or {"GET"})
        if (method, route.route) not in covered
    )


def test_every_route_taking_an_id_has_a_cross_tenant_case():
    missing = uncovered(ROUTES)
    assert missing == [], f"add a case with tenant B's id to API_CASES or PAGE_CASES: {missing}"
    routed = {(m, r.route) for r in ROUTES for m in r.methods}
    covered = {(m, r) for m, r, _, _ in API_CASES + PAGE_CASES} | set(NOT_A_TENANT_ID)
    stale = sorted(f"{m} /{r}" for m, r in covered if (m, r) not in routed)
    assert stale == [], f"cases for routes that no longer exist: {stale}"


def test_a_new_route_taking_an_id_without_a_case_is_named():
    """What the check above reports when someone adds an id-taking route and forgets its case."""
    files = next(r for r in ROUTES if r.route == "api/v1/files/<uuid:pk>/")
    new_api = Route("api/v1/files/<uuid:pk>/versions/", "file-versions", files.callback)
    page = next(r for r in ROUTES if r.route == _P + "files/<str:file_id>/download/")
    new_page = Route(_P + "files/<str:file_id>/preview/", "file-preview", page.callback)
    plain = Route(_P + "files/", "files", page.callback)  # the portal's own slug alone is not an id here
    assert uncovered([new_api, new_page, plain]) == [
        "DELETE /api/v1/files/<uuid:pk>/versions/",
        "GET /api/v1/files/<uuid:pk>/versions/",
        "GET /portal/<slug:slug>/files/<str:file_id>/preview/",
    ]


def _send(client, method: str, path: str, body: dict | None):
    if body is None:
        return getattr(client, method.lower())(path)
    if isinstance(client, APIClient):
        return getattr(client, method.lower())(path, body, format="json")
    return getattr(client, method.lower())(path, body)


@pytest.mark.parametrize(("method", "route", "path", "body"), API_CASES, ids=[f"{c[0]} {c[2]}" for c in API_CASES])
def test_bs_id_in_an_api_path_is_404_and_b_is_unchanged(two_tenants: World, api_client, method, route, path, body):
    client = api_client(two_tenants.owner_a, two_tenants.portal_a)
    before = b_state(two_tenants)
    response = _send(client, method, path.format(**two_tenants.ids), body)
    assert response.status_code == 404, response.content
    assert two_tenants.ids["membership"] not in response.content.decode()
    assert b_state(two_tenants) == before


@pytest.mark.parametrize(("method", "route", "path", "body"), API_CASES, ids=[f"{c[0]} {c[2]}" for c in API_CASES])
def test_bs_id_through_an_admin_api_key_of_a_is_refused_and_b_is_unchanged(
    two_tenants: World, method, route, path, body
):
    _, full = make_key(two_tenants.tenant_a, two_tenants.owner_a, role="admin", name="A admin key")
    before = b_state(two_tenants)
    response = _send(key_client(full), method, path.format(**two_tenants.ids), body)
    # 404 where keys are served; 401/403 on a person's own sign-in (sessions), which no key reaches.
    assert response.status_code in ({401, 403} if "/auth/" in path else {404}), response.content
    assert b_state(two_tenants) == before


@pytest.mark.parametrize(("method", "route", "path", "data"), PAGE_CASES, ids=[f"{c[0]} {c[2]}" for c in PAGE_CASES])
def test_bs_id_in_a_page_url_is_the_404_page_and_b_is_unchanged(two_tenants: World, method, route, path, data):
    browser = web_client(two_tenants.owner_a, two_tenants.portal_a)
    before = b_state(two_tenants)
    response = _send(browser, method, f"/portal/{two_tenants.portal_a.slug}/" + path.format(**two_tenants.ids), data)
    if (method, route) in GET_IGNORES_THE_ID:
        assert response.status_code == 302
        assert response["Location"].startswith(f"/portal/{two_tenants.portal_a.slug}/")
    else:
        assert response.status_code == 404, response.content[:300]
    assert b"tenant B only" not in b"".join(getattr(response, "streaming_content", [response.content]))
    assert b_state(two_tenants) == before


def test_the_same_ids_work_for_b_itself(two_tenants: World, api_client):
    """The ids are live: B's owner reaches each (so a 404 above is the tenant wall, not a dead id)."""
    client = api_client(two_tenants.owner_b, two_tenants.portal_b)
    for path in ("/api/v1/files/{file}/", "/api/v1/integrations/webhooks/{endpoint}/"):
        assert client.get(path.format(**two_tenants.ids)).status_code == 200
    assert client.get("/api/v1/integrations/webhooks/{endpoint}/deliveries/".format(**two_tenants.ids)).json()[
        "results"
    ]
    browser = web_client(two_tenants.owner_b, two_tenants.portal_b)
    for page in ("roles/{role}/", "webhooks/{endpoint}/", "members/{membership}/remove/", "files/{file}/delete/"):
        assert (
            browser.get(f"/portal/{two_tenants.portal_b.slug}/" + page.format(**two_tenants.ids)).status_code == 200
        ), page


def test_a_download_grant_is_bound_to_its_tenant(two_tenants: World):
    """A grant signed for A (as A's own link would be) naming B's file finds nothing; B's own grant works."""
    crossed = download_token(tenant_id=two_tenants.tenant_a.id, file_id=two_tenants.ids["file"])
    response = APIClient().get(f"/api/v1/files/download/{crossed}/")
    assert response.status_code == 404
    own = download_token(tenant_id=two_tenants.tenant_b.id, file_id=two_tenants.ids["file"])
    served = APIClient().get(f"/api/v1/files/download/{own}/")
    assert served.status_code == 200
    assert b"".join(served.streaming_content) == b"tenant B only\n"
