"""`audit-events/`: the tenant's trail, newest first, by cursor — shape, permission, paging, query budget."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.common.tenancy import tenant_context
from apps.identity.models import AuditEvent
from apps.identity.services.audit import audit_record

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
    }
    assert older["action"] == "test.first"
    assert older["actor"] == {"id": str(admin.id), "email": admin.email}
    assert older["target"] == {"type": "identity.portal", "id": "p-1"}
    assert older["ip"] == "192.0.2.1"
    assert datetime.fromisoformat(newest["created_at"].replace("Z", "+00:00")).tzinfo is not None
    # Newest first over the whole list: times never increase, and within a time seq falls.
    times = [row["created_at"] for row in body["results"]]
    assert times == sorted(times, reverse=True)


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
