"""`/api/v1/integrations/` as docs/api.md states it: shapes, who may call what, other tenants' ids, bad input."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.common.tenancy import tenant_context
from apps.identity.models import Tenant
from apps.integrations.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from apps.integrations.tests.conftest import WEBHOOKS, detail, redeliver

pytestmark = pytest.mark.django_db


def test_create_answers_the_secret_once_and_lists_without_it(owner_api, receiver):
    response = owner_api.post(
        WEBHOOKS,
        {"url": receiver.url, "events": ["file.uploaded", "member.added", "member.added"], "description": "CRM"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "url", "description", "events", "active", "disabled_at", "created_at", "secret"}
    assert body["events"] == ["file.uploaded", "member.added"]  # sorted, once each
    assert (body["active"], body["disabled_at"], body["url"]) == (True, None, receiver.url)

    listed = owner_api.get(WEBHOOKS).json()["results"]
    assert [e["id"] for e in listed] == [body["id"]]
    assert "secret" not in listed[0]
    assert "secret" not in owner_api.get(detail(body["id"])).json()


def test_patch_changes_what_is_given_and_delete_removes_it(owner_api, make_endpoint, receiver):
    endpoint = make_endpoint()
    changed = owner_api.patch(detail(endpoint["id"]), {"events": ["file.deleted"], "active": False}, format="json")
    assert changed.status_code == 200, changed.content
    assert (changed.json()["events"], changed.json()["active"]) == (["file.deleted"], False)
    assert changed.json()["url"] == receiver.url

    assert owner_api.delete(detail(endpoint["id"])).status_code == 204
    assert owner_api.get(detail(endpoint["id"])).status_code == 404
    assert owner_api.get(WEBHOOKS).json()["results"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": ["member.exploded"]}, "events"),
        ({"events": ["ping"]}, "events"),  # sent by `test/` only, not subscribed to
        ({"events": []}, "events"),
        ({"events": "member.added"}, "events"),
        ({"events": [7]}, "events"),
        ({"url": "ftp://example.test/hook"}, "url"),
        ({"url": "https://user:pw@127.0.0.1/hook"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": 12}, "url"),
        ({"url": "http://[::1"}, "url"),
        ({"url": "https://" + "a" * 2100}, "url"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(owner_api, receiver, body, field):
    response = owner_api.post(WEBHOOKS, {"url": receiver.url, "events": ["member.added"], **body}, format="json")
    assert response.status_code == 400, response.content
    assert any(name.split("[")[0] == field for name in response.json()["errors"]), response.json()


def test_bad_patch_values_are_a_400(owner_api, make_endpoint):
    endpoint = make_endpoint()
    for body in ({"active": "yes"}, {"events": ["nope"]}, {"url": "gopher://x"}):
        assert owner_api.patch(detail(endpoint["id"]), body, format="json").status_code == 400, body
    assert owner_api.post(WEBHOOKS, ["not", "an", "object"], format="json").status_code == 400


def test_members_are_refused_and_strangers_must_sign_in(api_client, member, portal, owner, make_endpoint):
    endpoint = make_endpoint()
    member_api = api_client(member("member"), portal)
    for method, path in [
        ("get", WEBHOOKS),
        ("post", WEBHOOKS),
        ("get", detail(endpoint["id"])),
        ("patch", detail(endpoint["id"])),
        ("delete", detail(endpoint["id"])),
        ("post", f"{detail(endpoint['id'])}rotate-secret/"),
        ("post", f"{detail(endpoint['id'])}test/"),
        ("get", f"{detail(endpoint['id'])}deliveries/"),
        ("post", redeliver(uuid.uuid4())),
    ]:
        assert getattr(member_api, method)(path, {}, format="json").status_code == 403, (method, path)
        assert getattr(APIClient(), method)(path, {}, format="json").status_code == 401, (method, path)
    admin_api = api_client(member("admin"), portal)
    assert admin_api.get(WEBHOOKS).status_code == 200


def test_a_plan_without_webhooks_is_refused(owner_api, tenant):
    Tenant.objects.filter(pk=tenant.pk).update(plan_code="free")
    response = owner_api.get(WEBHOOKS)
    assert response.status_code == 403
    assert response.json()["type"].endswith("feature_not_in_plan")


def test_another_tenants_endpoints_and_deliveries_are_404(
    api_client, member, other_tenant, make_endpoint, owner_api, run_jobs
):
    from apps.identity.tests.factories import PortalFactory

    other_portal = PortalFactory(tenant=other_tenant, slug="globex-test", is_default=True)
    theirs = api_client(member("owner", of=other_tenant), other_portal)
    endpoint = make_endpoint(client=theirs)
    with run_jobs():
        sent = theirs.post(f"{detail(endpoint['id'])}test/").json()

    for method, path in [
        ("get", detail(endpoint["id"])),
        ("patch", detail(endpoint["id"])),
        ("delete", detail(endpoint["id"])),
        ("post", f"{detail(endpoint['id'])}rotate-secret/"),
        ("post", f"{detail(endpoint['id'])}test/"),
        ("get", f"{detail(endpoint['id'])}deliveries/"),
        ("post", redeliver(sent["id"])),
        ("get", detail(uuid.uuid4())),
    ]:
        assert getattr(owner_api, method)(path, {}, format="json").status_code == 404, (method, path)
    assert owner_api.get(WEBHOOKS).json()["results"] == []
    assert theirs.get(detail(endpoint["id"])).status_code == 200  # still theirs, untouched


def test_at_most_twenty_endpoints(owner_api, make_endpoint, tenant):
    first = make_endpoint()
    with tenant_context(tenant):
        row = WebhookEndpoint.objects.get(id=first["id"])
        for _ in range(19):
            row.pk = uuid.uuid4()
            row._state.adding = True
            row.save()
    response = owner_api.post(WEBHOOKS, {"url": first["url"], "events": ["member.added"]}, format="json")
    assert response.status_code == 409


def _log(tenant, endpoint_id, rows: int) -> None:
    with tenant_context(tenant):
        have = WebhookDelivery.objects.filter(endpoint_id=endpoint_id).count()
        for n in range(have, rows):
            event = WebhookEvent.objects.create(type="member.added", payload={"n": n})
            WebhookDelivery.objects.create(endpoint_id=endpoint_id, event=event, message_id=f"msg_{n}", attempts=1)


def test_the_delivery_log_pages_by_cursor_in_the_same_queries_at_1_20_and_100_rows(owner_api, make_endpoint, tenant):
    endpoint = make_endpoint()
    path = f"{detail(endpoint['id'])}deliveries/?page_size=100"
    counts = {}
    for rows in (1, 20, 100):
        _log(tenant, endpoint["id"], rows)
        with CaptureQueriesContext(connection) as captured:
            response = owner_api.get(path)
        assert response.status_code == 200
        assert len(response.json()["results"]) == rows
        counts[rows] = len(captured.captured_queries)
    assert len(set(counts.values())) == 1, counts

    first = owner_api.get(f"{detail(endpoint['id'])}deliveries/?page_size=60").json()
    second = owner_api.get(first["next"]).json()
    assert len(first["results"]) + len(second["results"]) == 100
    assert second["next"] is None
    assert {d["event"] for d in second["results"]} == {"member.added"}
    for cursor in ("garbage", "%%%", "cD0yMDI2"):
        assert owner_api.get(f"{detail(endpoint['id'])}deliveries/?cursor={cursor}").status_code == 404


def test_odd_ids_are_404_never_500(owner_api):
    for path in (
        f"{WEBHOOKS}not-a-uuid/",
        f"{WEBHOOKS}123/deliveries/",
        "/api/v1/integrations/deliveries/x/redeliver/",
    ):
        assert owner_api.get(path).status_code == 404, path
        assert owner_api.post(path).status_code == 404, path


def test_the_endpoint_list_makes_the_same_queries_at_1_and_20_endpoints(owner_api, make_endpoint, tenant):
    first = make_endpoint()
    counts = {}
    for rows in (1, 20):
        with tenant_context(tenant):
            row = WebhookEndpoint.objects.get(id=first["id"])
            for _ in range(WebhookEndpoint.objects.count(), rows):
                row.pk = uuid.uuid4()
                row._state.adding = True
                row.save()
        with CaptureQueriesContext(connection) as captured:
            response = owner_api.get(f"{WEBHOOKS}?page_size=100")
        assert len(response.json()["results"]) == rows
        counts[rows] = len(captured.captured_queries)
    assert counts[1] == counts[20], counts
