"""Webhook pages: who may open what, the list and create (the secret once), other tenants' ids, CSRF, odd input,
and the cost of the lists. One endpoint's page (edit, test, rotate, delete, redeliver): test_webhooks_pages_endpoint.
"""

from __future__ import annotations

import logging
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.common.tenancy import tenant_context
from apps.identity.models import Tenant
from apps.integrations.events import EVENT_TYPES
from apps.integrations.models import WebhookEndpoint
from apps.portals.tests import webhooks_support
from apps.portals.tests.conftest import csrf_post
from apps.portals.tests.webhooks_support import (
    ZERO,
    bulk_deliveries,
    bulk_endpoints,
    endpoint_url,
    endpoints_of,
    hooks_url,
    make_endpoint,
    nav_links,
    redeliver_url,
    stored_secret,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded", "hooks_settings")]

# The receiver on 127.0.0.1 and the webhook settings (webhooks_support).
receiver = webhooks_support.receiver
hooks_settings = webhooks_support.hooks_settings

SECRET_RE = re.compile(r"whsec_[A-Za-z0-9+/=]+")


@pytest.fixture
def pro(tenant, pro_plan):
    """The test tenants on `pro`, whose plan includes webhooks (`free` does not)."""
    return tenant


def create(web, portal, **data):
    return csrf_post(web, hooks_url(portal), {"url": "", "description": "", "events": ["member.added"], **data})


def every_page(portal, endpoint_id, delivery_id=ZERO) -> list[str]:
    return [
        hooks_url(portal),
        endpoint_url(portal, endpoint_id),
        endpoint_url(portal, endpoint_id, "test"),
        endpoint_url(portal, endpoint_id, "rotate-secret"),
        endpoint_url(portal, endpoint_id, "delete"),
        redeliver_url(portal, delivery_id),
    ]


# --------------------------------------------------------------------------- who may open what


def test_an_owner_sees_the_page_in_the_navigation_with_every_event_to_choose(web, portal, pro, signed_in):
    signed_in("owner")
    page = web.get(hooks_url(portal))
    assert page.status_code == 200
    assert ">Webhooks</a>" in nav_links(page.content)
    text = page.content.decode()
    for event in EVENT_TYPES:
        assert f'type="checkbox" name="events" value="{event}"' in text
    assert 'value="ping"' not in text  # the test event is sent, never subscribed to
    assert "No endpoints yet." in text


def test_a_member_without_the_permission_gets_403_everywhere_and_no_link(web, portal, pro, signed_in, member, receiver):
    endpoint = make_endpoint(pro, member("owner"), receiver.url)
    signed_in("member")
    for path in every_page(portal, endpoint.id):
        assert web.get(path).status_code == 403, path
        assert csrf_post(web, path, {"url": "http://127.0.0.1:1/x", "events": ["member.added"]}).status_code == 403
    assert [(e.url, e.active) for e in endpoints_of(pro)] == [(receiver.url, True)]
    assert receiver.requests == []
    assert ">Webhooks</a>" not in nav_links(web.get(f"/portal/{portal.slug}/dashboard/").content)


def test_on_a_plan_without_webhooks_the_pages_are_403_and_not_in_the_navigation(web, portal, tenant, signed_in):
    assert Tenant.objects.get(id=tenant.id).plan_code == "free"
    signed_in("owner")
    for path in every_page(portal, ZERO):
        response = web.get(path)
        assert response.status_code == 403, path
        assert b"not part of this portal or of your organisation" in response.content
    assert create(web, portal, url="http://127.0.0.1:1/hook").status_code == 403
    assert endpoints_of(tenant) == []
    assert ">Webhooks</a>" not in nav_links(web.get(f"/portal/{portal.slug}/dashboard/").content)


def test_anonymous_visitors_go_to_the_login_page(web, portal, pro):
    for path in every_page(portal, ZERO):
        response = web.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith(f"/portal/{portal.slug}/login/")


# --------------------------------------------------------------------------- create: the secret once


def test_the_new_endpoints_secret_is_shown_once_with_no_store(web, portal, pro, signed_in, receiver, caplog):
    signed_in("owner")
    caplog.set_level(logging.DEBUG)
    response = create(web, portal, url=receiver.url, events=["file.uploaded", "member.added"], description="CRM")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert "Location" not in response
    text = response.content.decode()
    assert "it will not be shown again" in text
    shown = SECRET_RE.findall(text)
    assert len(shown) == 1, shown
    (endpoint,) = endpoints_of(pro)
    assert (endpoint.url, endpoint.events, endpoint.description) == (
        receiver.url,
        ["file.uploaded", "member.added"],
        "CRM",
    )
    assert stored_secret(endpoint) == shown[0]  # the secret that signs is the one shown

    listed = web.get(hooks_url(portal)).content.decode()
    assert shown[0] not in listed
    assert endpoint_url(portal, endpoint.id) in listed
    assert shown[0] not in web.get(endpoint_url(portal, endpoint.id)).content.decode()
    assert shown[0] not in str(dict(web.session.items()))
    assert shown[0] not in caplog.text


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:9/hook", "private"),
        ("http://10.0.0.7/hook", "private"),
        ("http://169.254.169.254/latest/meta-data/", "private"),
        ("ftp://203.0.113.9/hook", ""),
        ("https://user:pw@203.0.113.9/hook", ""),
        ("not a url", ""),
        ("", ""),
        ("http://[::1", ""),
    ],
)
def test_a_url_the_ssrf_guard_refuses_is_shown_on_the_field(web, portal, pro, signed_in, settings, url, message):
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = False
    signed_in("owner")
    response = create(web, portal, url=url)
    assert response.status_code == 400, response.content
    error = re.search(r'id="id_url_error">([^<]*)<', response.content.decode())
    assert error, "the refusal is on the URL field"
    assert message in error.group(1).lower()
    assert endpoints_of(pro) == []


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"events": []}, "events"),
        ({"events": ["member.exploded"]}, "events"),
        ({"events": ["ping"]}, "events"),
        ({"url": "https://203.0.113.9/" + "a" * 2100}, "url"),
        ({"description": "d" * 300}, "description"),
    ],
)
def test_odd_input_is_a_form_error_never_a_500(web, portal, pro, signed_in, receiver, data, field):
    signed_in("owner")
    response = create(web, portal, **{"url": receiver.url, **data})
    assert response.status_code == 400, response.content
    assert f'id="id_{field}_error"' in response.content.decode()
    assert endpoints_of(pro) == []


def test_the_services_limit_of_endpoints_is_shown_above_the_form(web, portal, pro, signed_in, receiver):
    me = signed_in("owner")
    for _ in range(20):
        make_endpoint(pro, me, receiver.url)
    response = create(web, portal, url=receiver.url)
    assert response.status_code == 409
    assert b"at most 20 webhook endpoints" in response.content
    assert len(endpoints_of(pro)) == 20


def test_posting_without_the_csrf_token_is_refused(web, portal, pro, signed_in, receiver):
    me = signed_in("owner")
    endpoint = make_endpoint(pro, me, receiver.url)
    for path in every_page(portal, endpoint.id):
        assert web.post(path, {"url": receiver.url, "events": ["member.added"]}).status_code == 403, path
    (still,) = endpoints_of(pro)
    assert (still.secret_encrypted, still.active) == (endpoint.secret_encrypted, True)
    assert receiver.requests == []


# --------------------------------------------------------------------------- other tenants and odd ids


def test_another_tenants_endpoint_and_delivery_are_the_404_page(
    web, portal, pro, other_tenant, member, signed_in, receiver
):
    theirs = make_endpoint(other_tenant, member("owner", of=other_tenant), receiver.url)
    bulk_deliveries(other_tenant, theirs, 1)
    with tenant_context(other_tenant):
        delivery_id = theirs.deliveries.get().id
    signed_in("owner")
    for path in every_page(portal, theirs.id, delivery_id)[1:]:
        if not path.endswith(("/test/", "/rotate-secret/", "/redeliver/")):
            assert web.get(path).status_code == 404, path
        assert csrf_post(web, path, {"url": receiver.url, "events": ["member.added"]}).status_code == 404, path
    (still,) = endpoints_of(other_tenant)
    assert (still.secret_encrypted, still.events) == (theirs.secret_encrypted, ["member.added"])
    assert receiver.requests == []


@pytest.mark.parametrize("odd", ["not-a-uuid", "1", ZERO, "%00", "deliveries"])
def test_an_unknown_or_odd_id_is_the_404_page(web, portal, pro, signed_in, odd):
    signed_in("owner")
    for path in (endpoint_url(portal, odd), endpoint_url(portal, odd, "delete")):
        assert web.get(path).status_code == 404, path
    for path in every_page(portal, odd, odd)[1:]:
        assert csrf_post(web, path, {"events": ["member.added"]}).status_code == 404, path


@pytest.mark.parametrize("cursor", ["garbage", "%%%", "cD0yMDI0LTAxLTAxVDAwOjAwOjAw", "eD0x", "\x00"])
def test_a_cursor_the_lists_did_not_mint_is_the_404_page(web, portal, pro, signed_in, receiver, cursor):
    endpoint = make_endpoint(pro, signed_in("owner"), receiver.url)
    assert web.get(hooks_url(portal), {"cursor": cursor}).status_code == 404
    assert web.get(endpoint_url(portal, endpoint.id), {"cursor": cursor}).status_code == 404


def test_the_methods_a_page_does_not_take_are_405(web, portal, pro, signed_in, receiver):
    endpoint = make_endpoint(pro, signed_in("owner"), receiver.url)
    for action in ("test", "rotate-secret"):
        assert web.get(endpoint_url(portal, endpoint.id, action)).status_code == 405
    assert receiver.requests == []


# --------------------------------------------------------------------------- the lists: paging and queries


def test_the_endpoint_list_makes_the_same_queries_at_1_20_and_100_endpoints(web, portal, pro, signed_in):
    signed_in("owner")
    counts = {}
    for total in (1, 20, 100):
        with tenant_context(pro):
            WebhookEndpoint.objects.all().delete()
        bulk_endpoints(pro, total)
        web.get(hooks_url(portal))
        for query in ("", "?page_size=100"):
            with CaptureQueriesContext(connection) as queries:
                page = web.get(hooks_url(portal) + query)
            assert page.status_code == 200
            assert page.content.count(b'data-testid="webhook-row"') == (min(total, 20) if not query else total)
            counts[(total, query)] = len(queries.captured_queries)
    assert len(set(counts.values())) == 1, counts


def test_the_delivery_log_makes_the_same_queries_at_1_20_and_100_deliveries(web, portal, pro, signed_in):
    me = signed_in("owner")
    counts = {}
    for total in (1, 20, 100):
        endpoint = make_endpoint(pro, me, f"https://203.0.113.{total}/hook")
        bulk_deliveries(pro, endpoint, total)
        page_url = endpoint_url(portal, endpoint.id)
        web.get(page_url)
        for query in ("", "?page_size=100"):
            with CaptureQueriesContext(connection) as queries:
                page = web.get(page_url + query)
            assert page.status_code == 200
            assert page.content.count(b'data-testid="delivery-row"') == (min(total, 20) if not query else total)
            counts[(total, query)] = len(queries.captured_queries)
    assert len(set(counts.values())) == 1, counts


def test_cursor_paging_walks_the_whole_delivery_log_once(web, portal, pro, signed_in):
    endpoint = make_endpoint(pro, signed_in("owner"), "https://203.0.113.5/hook")
    bulk_deliveries(pro, endpoint, 45)
    seen: list[str] = []
    url, pages = endpoint_url(portal, endpoint.id), 0
    while url:
        html = web.get(url).content.decode()
        seen += re.findall(r'data-testid="delivery-row" data-delivery="([^"]+)"', html)
        older = re.search(r'<a rel="next" href="([^"]+)"', html)
        url = older.group(1).replace("&amp;", "&") if older else ""
        pages += 1
    assert pages == 3
    assert len(seen) == len(set(seen)) == 45
