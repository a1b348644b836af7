"""Tenant B's values where they enter a body, a form, a portal slug or a list's cursor.

- a B-only role code in the API's and the pages' bodies is 400 (or a form error), and A writes nothing;
- a sign-in of A's portal opens no page of B's portal (browser) and no row of B (API), even for a
  person who is a member of both tenants;
- a `next` link (cursor) of one of B's lists replayed with A's token, and tampered cursors, show
  no row of B.
Ids in paths: `test_cross_tenant_ids.py`.
"""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pytest
from rest_framework.test import APIClient

from apps.common.tenancy import tenant_context
from apps.identity.models import ApiKey, Invitation, Membership
from apps.identity.services.invitations import invitation_create
from apps.identity.tests.api_keys_support import make_key
from apps.portals.base import PortalPage, PublicPortalPage
from apps.portals.tests.files_support import stored
from tests.attacks.two_tenants import B_PORTAL, B_ROLE, World, b_state, web_client
from tests.test_url_walker import ROUTES

pytestmark = pytest.mark.django_db

_P = "portal/<slug:slug>/"


def a_state(two_tenants: World) -> dict:
    with tenant_context(two_tenants.tenant_a):
        return {
            "roles": sorted(Membership.objects.values_list("id", "role__code")),
            "invitations": sorted(Invitation.objects.values_list("email", "role_code")),
            "keys": sorted(ApiKey.objects.values_list("name", "role_code")),
        }


def _a_membership(two_tenants: World) -> str:
    with tenant_context(two_tenants.tenant_a):
        return str(Membership.objects.get(user=two_tenants.member_a).id)


# --------------------------------------------------------------------------- a B-only role code in a body

API_BODIES = [
    ("PATCH", "/api/v1/identity/members/{a_membership}/", {"role": B_ROLE}),
    ("POST", "/api/v1/identity/invitations/", {"email": "new@example.test", "role": B_ROLE}),
    ("POST", "/api/v1/integrations/api-keys/", {"name": "k", "role": B_ROLE}),
]


@pytest.mark.parametrize(("method", "path", "body"), API_BODIES, ids=[f"{m} {p}" for m, p, _ in API_BODIES])
def test_bs_role_code_in_an_api_body_is_400_and_nothing_is_written(two_tenants: World, api_client, method, path, body):
    client = api_client(two_tenants.owner_a, two_tenants.portal_a)
    before_a, before_b = a_state(two_tenants), b_state(two_tenants)
    response = getattr(client, method.lower())(
        path.format(a_membership=_a_membership(two_tenants)), body, format="json"
    )
    assert response.status_code == 400, response.content
    assert "role" in response.json().get("errors", {}), response.content
    assert (a_state(two_tenants), b_state(two_tenants)) == (before_a, before_b)


PAGE_FORMS = [
    ("members/{a_membership}/role/", {"role": B_ROLE}),
    ("members/invitations/", {"email": "new@example.test", "role": B_ROLE}),
    ("api-keys/", {"name": "k", "role": B_ROLE}),
]


@pytest.mark.parametrize(("page", "data"), PAGE_FORMS, ids=[p for p, _ in PAGE_FORMS])
def test_bs_role_code_on_a_form_is_refused_and_nothing_is_written(two_tenants: World, page, data):
    browser = web_client(two_tenants.owner_a, two_tenants.portal_a)
    before_a, before_b = a_state(two_tenants), b_state(two_tenants)
    response = browser.post(
        f"/portal/{two_tenants.portal_a.slug}/" + page.format(a_membership=_a_membership(two_tenants)), data
    )
    assert response.status_code in (200, 302, 400), response.status_code  # the form again, or back to the list
    assert (a_state(two_tenants), b_state(two_tenants)) == (before_a, before_b)


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("PATCH", "/api/v1/identity/portals/acme-test/", {"slug": B_PORTAL}, 400),
        ("POST", "/api/v1/identity/portals/", {"slug": B_PORTAL, "name": "Look-alike"}, 409),
    ],
    ids=["rename-to-bs-slug", "create-with-bs-slug"],
)
def test_bs_portal_slug_cannot_be_taken_by_a(two_tenants: World, api_client, method, path, body, status):
    client = api_client(two_tenants.owner_a, two_tenants.portal_a)
    before = b_state(two_tenants)
    response = getattr(client, method.lower())(path, body, format="json")
    assert response.status_code == status, response.content
    assert b_state(two_tenants) == before
    assert client.get("/api/v1/identity/tenant/").json()["id"] == str(two_tenants.tenant_a.id)


def test_switching_to_bs_portal_without_a_membership_there_issues_nothing(two_tenants: World, login):
    tokens = login(two_tenants.owner_a, two_tenants.portal_a)
    response = APIClient().post(
        "/api/v1/identity/auth/switch/",
        {"portal": B_PORTAL},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {tokens['access']}",
    )
    assert response.status_code in (403, 404), response.content
    assert "access" not in response.json()


# --------------------------------------------------------------------------- a sign-in of portal A used on portal B

SIGNED_IN_PAGES = sorted(
    {
        r.route.removeprefix(_P)
        for r in ROUTES
        if r.route.startswith(_P)
        and "<" not in r.route.removeprefix(_P)
        and r.view_class is not None
        and issubclass(r.view_class, PortalPage)
        and not issubclass(r.view_class, PublicPortalPage)
    }
)


def test_the_page_list_is_walked():
    assert {"dashboard/", "members/", "webhooks/", "api-keys/", "settings/", "files/upload/"} <= set(SIGNED_IN_PAGES)


@pytest.fixture(params=["a_only", "member_of_both"])
def a_browser(request, two_tenants: World, member):
    """A's owner signed in at A's portal; `member_of_both` is also a member (not owner) of B."""
    if request.param == "member_of_both":
        member("member", user=two_tenants.owner_a, of=two_tenants.tenant_b)
    return web_client(two_tenants.owner_a, two_tenants.portal_a)


@pytest.mark.parametrize("page", SIGNED_IN_PAGES)
def test_a_sign_in_at_portal_a_opens_no_page_of_portal_b(two_tenants: World, a_browser, page):
    before = b_state(two_tenants)
    for method in ("get", "post"):
        response = getattr(a_browser, method)(f"/portal/{B_PORTAL}/{page}", {} if method == "post" else None)
        if response.status_code == 405:
            continue
        assert response.status_code == 302, (method, response.status_code)
        assert response["Location"].startswith(f"/portal/{B_PORTAL}/login/"), response["Location"]
    assert b_state(two_tenants) == before
    # ...and the session at A still works (it was not turned into a session of B either).
    assert a_browser.get(f"/portal/{two_tenants.portal_a.slug}/dashboard/").status_code == 200


def test_a_token_of_portal_a_of_a_member_of_both_reads_only_a(two_tenants: World, member, api_client):
    member("owner", user=two_tenants.owner_a, of=two_tenants.tenant_b)  # even an owner of B
    client = api_client(two_tenants.owner_a, two_tenants.portal_a)
    assert client.get("/api/v1/identity/tenant/").json()["id"] == str(two_tenants.tenant_a.id)
    listed = {row["id"] for row in client.get("/api/v1/identity/members/", {"page_size": 100}).json()["results"]}
    assert two_tenants.ids["membership"] not in listed
    before = b_state(two_tenants)
    assert client.patch(f"/api/v1/identity/portals/{B_PORTAL}/", {"name": "Taken"}, format="json").status_code == 404
    assert client.delete(f"/api/v1/identity/roles/{B_ROLE}/").status_code == 404
    assert b_state(two_tenants) == before


# --------------------------------------------------------------------------- cursors

CURSOR_LISTS = [
    "/api/v1/identity/audit-events/",
    "/api/v1/files/",
    "/api/v1/integrations/api-keys/",
    "/api/v1/identity/members/",
    "/api/v1/identity/invitations/",
]


def _ids(response) -> set[str]:
    return {str(row.get("id") or row.get("prefix")) for row in response.json()["results"]}


@pytest.fixture
def b_lists(two_tenants: World, api_client, member) -> dict:
    """B's owner's view of each list: all row ids, and the `next` link of its first page of one row."""
    member("member", of=two_tenants.tenant_b)
    stored(two_tenants.tenant_b, two_tenants.owner_b, name="second.txt", content=b"tenant B only too\n")
    make_key(two_tenants.tenant_b, two_tenants.owner_b, name="second key")
    with tenant_context(two_tenants.tenant_b):
        invitation_create(
            tenant=two_tenants.tenant_b, actor=two_tenants.owner_b, email="b-two@example.test", role="member"
        )
    client = api_client(two_tenants.owner_b, two_tenants.portal_b)
    views = {}
    for path in CURSOR_LISTS:
        everything = _ids(client.get(path, {"page_size": 100}))
        first = client.get(path, {"page_size": 1}).json()
        assert first["next"], path
        views[path] = (everything, first["next"])
    return views


@pytest.mark.parametrize("path", CURSOR_LISTS)
def test_bs_next_link_replayed_with_as_token_shows_no_row_of_b(two_tenants: World, api_client, b_lists, path):
    everything, next_link = b_lists[path]
    client = api_client(two_tenants.owner_a, two_tenants.portal_a)
    response = client.get(next_link)
    assert response.status_code in (200, 404), response.content
    if response.status_code == 200:
        assert not (_ids(response) & everything), path


def _tampered(next_link: str) -> list[dict]:
    query = parse_qs(urlsplit(next_link).query)
    if "cursor" not in query:  # a page number: the page itself is the only thing to change
        return [{"page": "0"}, {"page": "-1"}, {"page": "999999999999"}, {"page": "1' OR '1'='1"}]
    raw = base64.b64decode(query["cursor"][0]).decode()
    return [
        {"cursor": query["cursor"][0] + "x"},
        {"cursor": base64.b64encode(raw.replace("o=0", "o=1").encode()).decode()},
        {"cursor": base64.b64encode(b"p=2000-01-01T00:00:00%2B00:00&r=1").decode()},
        {"cursor": base64.b64encode(b"p=9999-01-01T00:00:00%2B00:00").decode()},
        {"cursor": base64.b64encode(b"p=00000000-0000-0000-0000-000000000000").decode()},
        {"cursor": "%00", "page_size": "1"},
    ]


@pytest.mark.parametrize("path", CURSOR_LISTS)
def test_a_tampered_cursor_is_refused_or_shows_only_as_rows(two_tenants: World, api_client, b_lists, path):
    everything, next_link = b_lists[path]
    client = api_client(two_tenants.owner_a, two_tenants.portal_a)
    for params in _tampered(next_link):
        response = client.get(path, params)
        assert response.status_code in (200, 400, 404), (params, response.status_code)
        if response.status_code == 200:
            assert not (_ids(response) & everything), params
