"""`audit-events/`: the tenant's trail, newest first, by cursor — shape, redacted data, permission, paging, queries."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.common.tenancy import tenant_context
from apps.identity.models import AuditEvent
from apps.identity.services.audit import REDACTED, audit_record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded")]

EVENTS = "/api/v1/identity/audit-events/"


def record(tenant, n, *, actor=None, prefix="test.event"):
    for i in range(n):
        audit_record(tenant=tenant, actor=actor, action=f"{prefix}.{i}", target=("thing", f"t{i}"), ip="192.0.2.7")


def all_pages(client, url):
    rows, pages = [], 0
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        rows += body["results"]
        url = body["next"]
        pages += 1
    return rows, pages


def test_admin_reads_the_trail_newest_first_in_the_documented_shape(admin_api, admin, tenant):
    audit_record(tenant=tenant, actor=admin, action="test.first", target=("identity.portal", "p-1"), ip="192.0.2.1")
    event = audit_record(tenant=tenant, actor=None, action="test.second")
    response = admin_api.get(EVENTS)
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"results", "next", "previous"}
    newest, older = body["results"][0], body["results"][1]
    assert newest == {
        "id": str(event.id),
        "action": "test.second",
        "actor": None,
        "target": None,
        "ip": None,
        "created_at": newest["created_at"],
        "data": {},
    }
    assert older["action"] == "test.first"
    assert older["actor"] == {"id": str(admin.id), "email": admin.email}
    assert older["target"] == {"type": "identity.portal", "id": "p-1"}
    assert older["ip"] == "192.0.2.1"
    assert datetime.fromisoformat(newest["created_at"].replace("Z", "+00:00")).tzinfo is not None
    # Newest first over the whole list: times never increase, and within a time seq falls.
    times = [row["created_at"] for row in body["results"]]
    assert times == sorted(times, reverse=True)


def test_data_comes_out_as_stored_with_secrets_redacted(admin_api, admin, tenant):
    secrets_ = [
        "hunter2-hunter2",
        "eyJhbGciOiJIUzI1NiJ9.e30.c2ln",
        "123456",
        "JBSWY3DPEHPK3PXP",
        "k-123",
        "AB7CD-EF9GH",
    ]
    stored = {
        # Ordinary details: as stored.
        "portal": "acme-test",
        "role": "admin",
        "reason": "left the company",
        "scope": "user",
        "count": 3,
        "method": "totp",
        "changes": {"mfa_required": {"from": False, "to": True}},
        # Credential-looking keys, at any depth and in any spelling: redacted.
        "password": secrets_[0],
        "refresh_token": secrets_[1],
        "code": secrets_[2],
        "totp_secret": secrets_[3],
        "apiKey": secrets_[4],
        "nested": {"backup_codes": [secrets_[5]], "newPassword": secrets_[0]},
    }
    audit_record(tenant=tenant, actor=admin, action="test.details", data=stored)
    [row] = [r for r in admin_api.get(EVENTS).json()["results"] if r["action"] == "test.details"]
    assert row["data"] == {
        "portal": "acme-test",
        "role": "admin",
        "reason": "left the company",
        "scope": "user",
        "count": 3,
        "method": "totp",
        "changes": {"mfa_required": {"from": False, "to": True}},
        "password": REDACTED,
        "refresh_token": REDACTED,
        "code": REDACTED,
        "totp_secret": REDACTED,
        "apiKey": REDACTED,
        "nested": {"backup_codes": REDACTED, "newPassword": REDACTED},
    }
    listed = json.dumps(row)
    assert not any(secret in listed for secret in secrets_)


def test_a_secret_in_free_text_is_cut_out(admin_api, tenant):
    audit_record(tenant=tenant, action="test.text", data={"reason": "sent Bearer abc.def.ghi and password: hunter2"})
    [row] = [r for r in admin_api.get(EVENTS).json()["results"] if r["action"] == "test.text"]
    assert "hunter2" not in row["data"]["reason"]
    assert "abc.def.ghi" not in row["data"]["reason"]
    assert row["data"]["reason"].startswith("sent Bearer")


def test_a_roles_code_is_its_public_name_not_a_secret(admin_api, tenant):
    audit_record(tenant=tenant, action="role.created", data={"code": "auditor", "permissions": ["identity.view_audit"]})
    audit_record(tenant=tenant, action="test.other", data={"code": "123456"})
    rows = {r["action"]: r["data"] for r in admin_api.get(EVENTS).json()["results"]}
    assert rows["role.created"] == {"code": "auditor", "permissions": ["identity.view_audit"]}
    assert rows["test.other"] == {"code": REDACTED}


def test_the_schema_documents_data(admin_api):
    document = admin_api.get("/api/v1/schema/?format=json").json()
    item = document["components"]["schemas"]["AuditEventOutput"]
    assert "data" in item["required"]
    assert item["properties"]["data"]["type"] == "object"
    assert "redact" in item["properties"]["data"]["description"].lower()


def test_member_without_view_audit_is_403(api_client, member, portal, tenant):
    record(tenant, 2)
    response = api_client(member("member"), portal).get(EVENTS)
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"


def test_without_a_token_it_is_401(api):
    response = api.get(EVENTS)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_following_next_visits_every_event_once_in_order(admin_api, tenant):
    record(tenant, 7)
    with tenant_context(tenant):
        expected = list(AuditEvent.objects.order_by("-created_at", "-seq").values_list("id", flat=True))
    rows, pages = all_pages(admin_api, f"{EVENTS}?page_size=3")
    assert [row["id"] for row in rows] == [str(i) for i in expected]
    assert pages == -(-len(expected) // 3)


def test_events_with_the_same_time_are_neither_lost_nor_repeated(admin_api, tenant):
    record(tenant, 5)
    moment = datetime(2030, 1, 1, tzinfo=UTC)
    with tenant_context(tenant):
        AuditEvent.objects.filter(action__startswith="test.event").update(created_at=moment)
        expected = list(AuditEvent.objects.order_by("-created_at", "-seq").values_list("id", flat=True))
    rows, _ = all_pages(admin_api, f"{EVENTS}?page_size=2")
    assert [row["id"] for row in rows] == [str(i) for i in expected]


def test_previous_leads_back(admin_api, tenant):
    record(tenant, 5)
    first = admin_api.get(f"{EVENTS}?page_size=2").json()
    second = admin_api.get(first["next"]).json()
    assert second["previous"]
    back = admin_api.get(second["previous"]).json()
    assert [r["id"] for r in back["results"]] == [r["id"] for r in first["results"]]


def test_page_size_is_clamped_and_junk_ignored(admin_api, tenant):
    record(tenant, 105)
    assert len(admin_api.get(f"{EVENTS}?page_size=1000").json()["results"]) == 100
    assert len(admin_api.get(f"{EVENTS}?page_size=abc").json()["results"]) == 20
    assert len(admin_api.get(f"{EVENTS}?page_size=-5").json()["results"]) == 1


def _cursor(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "",  # an empty cursor is not the first page
        _cursor("garbage"),  # decodes, but is no cursor: it was the first page
        _cursor("x=1"),  # an unknown field: was the first page
        _cursor("o=1&o=2"),  # a field twice
        _cursor("r=2"),
        _cursor("o=+5"),
        _cursor("o=" + "9" * 5000),  # more digits than int() takes: was a 500
        _cursor("p="),  # an empty position: was a 500
        "!" + _cursor(urlencode({"p": "2024-01-01 00:00:00+00:00"})),  # edited: the decoder skipped the "!"
        _cursor("p=not-a-date"),
        _cursor("p=2024-13-45T99:00:00"),
        _cursor("p=2024-01-01 00:00:00"),  # no time zone
        _cursor("o=-1"),
        _cursor("o=abc&p=2024-01-01T00:00:00%2B00:00"),
        _cursor("r=1&p=" + "9" * 400),
    ],
)
def test_a_junk_cursor_is_a_client_error_never_500(admin_api, tenant, cursor):
    record(tenant, 3)
    response = admin_api.get(EVENTS, {"cursor": cursor})
    assert response.status_code == 404, response.content
    assert response["Content-Type"] == "application/problem+json"


def test_a_well_formed_cursor_far_in_the_past_is_an_empty_page(admin_api, tenant):
    record(tenant, 3)
    response = admin_api.get(EVENTS, {"cursor": _cursor(urlencode({"p": "2000-01-01 00:00:00+00:00"}))})
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_no_count_and_the_same_queries_for_1_20_and_100_events(admin_api, tenant):
    record(tenant, 100)
    admin_api.get(EVENTS)  # warm: the role map and anything else a first request loads once
    totals, work = {}, {}
    for size in (1, 20, 100):
        with CaptureQueriesContext(connection) as queries:
            response = admin_api.get(EVENTS, {"page_size": size})
        assert response.status_code == 200
        assert len(response.json()["results"]) == size
        sql = [q["sql"].upper() for q in queries.captured_queries]
        assert not any("COUNT(" in s for s in sql), sql
        totals[size] = len(sql)
        # The request's savepoint pair is the test transaction's doing; the tenant settings count.
        work[size] = len([s for s in sql if not s.startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))])
    assert totals[1] == totals[20] == totals[100], totals
    assert work[100] <= 4, work


def test_the_next_link_is_a_position_cursor(admin_api, tenant):
    record(tenant, 4)
    next_url = admin_api.get(f"{EVENTS}?page_size=2").json()["next"]
    raw = parse_qs(urlsplit(next_url).query)["cursor"][0]
    decoded = parse_qs(base64.b64decode(raw.encode()).decode())
    assert "p" in decoded
