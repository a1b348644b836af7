"""What `make bench` measures, held in every `make test` (docs/performance.md).

- Each benchmarked flow runs the same statements whatever the tenant's size.
- A refused request (401, 403) runs no SQL statement at all: authentication and
  the permission check come before the handler's transaction opens.
- A tenant request sets the tenant once, as the first statement of its
  transaction, and never clears it (it dies with the transaction).
- Each tenant-scoped list, planned as the web role under row-level security,
  walks an index that leads with `tenant_id`, and touches about as many
  buffers at ten times the rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone
from rest_framework.test import APIClient

from apps.common.tenancy import tenant_context
from apps.common.tests.roles_support import django_as
from apps.identity import selectors
from apps.identity.api import members as members_api
from apps.identity.models import AuditEvent, AuthSession, Invitation, Membership, User
from apps.identity.services import sessions
from apps.identity.tests.factories import UserFactory, make_membership, system_role

ME = "/api/v1/identity/auth/me/"
EVENTS = "/api/v1/identity/audit-events/"
MEMBERS = "/api/v1/identity/members/"
REFRESH = "/api/v1/identity/auth/refresh/"


@contextmanager
def statements() -> Iterator[list[str]]:
    """Every SQL statement Django sends in the block (the request's savepoints and set_config included)."""
    seen: list[str] = []

    def record(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield seen


def add_events(tenant: Any, n: int, *, start: int = 1) -> None:
    """`n` audit rows in one INSERT (their chain is not what these tests read)."""
    now = timezone.now()
    with tenant_context(tenant):
        AuditEvent.objects.bulk_create(
            AuditEvent(
                tenant_id=tenant.id,
                seq=start + i,
                action="bench.event",
                data={"i": i},
                prev_hash="0" * 64,
                hash=f"{start + i:064x}",
                created_at=now - timedelta(seconds=start + i),
            )
            for i in range(n)
        )


def add_members(tenant: Any, n: int) -> None:
    for _ in range(n):
        make_membership(user=UserFactory(), tenant=tenant, role="member")


def add_people(tenant: Any, n: int) -> None:
    """`n` members and `n` pending invitations in a few INSERTs."""
    role = system_role("member")
    users = User.objects.bulk_create(User(email=f"{uuid4().hex}@example.test", password="!") for _ in range(n))
    later = timezone.now() + timedelta(days=7)
    with tenant_context(tenant):
        Membership.objects.bulk_create(Membership(tenant_id=tenant.id, user=user, role=role) for user in users)
        Invitation.objects.bulk_create(
            Invitation(
                tenant_id=tenant.id,
                email=f"{uuid4().hex}@example.test",
                role=role,
                role_code="member",
                expires_at=later,
            )
            for _ in range(n)
        )


def bearer(login: Callable[..., dict[str, Any]], user: Any, portal: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {login(user, portal)['access']}")
    return client


# --- the same statements at any size ---------------------------------------------------------


@pytest.mark.usefixtures("rbac_seeded")
@pytest.mark.parametrize("path", [ME, EVENTS, MEMBERS], ids=["me", "list", "members"])
def test_a_flow_runs_the_same_statements_at_1_20_and_100_rows(path, tenant, portal, member, login):
    admin = member("admin")
    client = bearer(login, admin, portal)
    client.get(path)  # warm: the role map and anything else a first request loads once
    counts, grown = {}, 0
    for size in (1, 20, 100):
        add_events(tenant, size - grown, start=grown + 1000)
        add_members(tenant, size - grown)
        grown = size
        with statements() as sql:
            response = client.get(path)
        assert response.status_code == 200, response.content
        counts[size] = len(sql)
    assert counts[1] == counts[20] == counts[100], counts


@pytest.mark.usefixtures("rbac_seeded")
def test_refresh_runs_the_same_statements_however_many_sessions_the_user_has(tenant, portal, member):
    user = member("admin")
    with tenant_context(tenant):
        membership = Membership.objects.select_related("role").get(user=user)

    def start() -> str:
        return sessions.session_start(
            user=user, membership=membership, portal=portal, amr=["pwd"], client=sessions.ClientInfo()
        ).refresh

    APIClient().post(REFRESH, {"refresh": start()}, format="json")  # warm
    counts = {}
    for extra in (0, 20):
        for _ in range(extra):
            start()
        refresh = start()
        with statements() as sql:
            response = APIClient().post(REFRESH, {"refresh": refresh}, format="json")
        assert response.status_code == 200, response.content
        counts[extra] = len(sql)
    assert AuthSession.objects.filter(user=user).count() > 20
    assert counts[0] == counts[20], counts


@pytest.mark.postgres  # the tenant setting and the statement count are PostgreSQL's (SQLite adds BEGIN)
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("rbac_seeded")
def test_refresh_rotates_in_six_statements_with_one_tenant_setting(tenant, portal, member):
    """Find the token, take it (the conditional UPDATE that makes one of two racers win), read the
    membership as the tenant, touch the session, store the next token."""
    user = member("admin")
    with tenant_context(tenant):
        membership = Membership.objects.select_related("role").get(user=user)
    refresh = sessions.session_start(
        user=user, membership=membership, portal=portal, amr=["pwd"], client=sessions.ClientInfo()
    ).refresh
    with statements() as sql:
        response = APIClient().post(REFRESH, {"refresh": refresh}, format="json")
    assert response.status_code == 200, response.content
    assert len(sql) <= 6, sql
    assert len([s for s in sql if "set_config" in s]) == 1, sql


# --- refused requests cost no SQL, a tenant request one setting ------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("rbac_seeded")
def test_refused_requests_run_no_statement(tenant, portal, member, login):
    outsider = bearer(login, member("member"), portal)
    outsider.get(EVENTS)  # warm
    forged = APIClient()
    forged.credentials(HTTP_AUTHORIZATION="Bearer not.a.token")
    for client, status in ((APIClient(), 401), (forged, 401), (outsider, 403)):
        with statements() as sql:
            response = client.get(EVENTS)
        assert response.status_code == status
        assert sql == [], sql


@pytest.mark.postgres  # the tenant setting exists on PostgreSQL only
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("rbac_seeded")
@pytest.mark.parametrize("path", [ME, EVENTS, MEMBERS], ids=["me", "list", "members"])
def test_a_tenant_request_sets_the_tenant_once_first_and_never_clears_it(path, tenant, portal, member, login):
    client = bearer(login, member("admin"), portal)
    client.get(path)  # warm
    with statements() as sql:
        assert client.get(path).status_code == 200
    settings = [s for s in sql if "set_config" in s]
    assert len(settings) == 1, sql
    assert sql[0] == settings[0]


@pytest.mark.usefixtures("rbac_seeded")
def test_me_is_one_query_after_the_tenant_setting(tenant, portal, member, login):
    client = bearer(login, member("admin"), portal)
    client.get(ME)
    with statements() as sql:
        body = client.get(ME).json()
    work = [s for s in sql if not s.startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "SELECT set_config"))]
    assert len(work) == 1, work
    assert body["mfa_enabled"] is False
    assert body["tenant"] == {"id": str(tenant.id), "slug": tenant.slug, "name": tenant.name}
    assert body["portal"] == {"slug": portal.slug, "name": portal.name}


@pytest.mark.usefixtures("rbac_seeded")
def test_me_shows_a_confirmed_second_factor_and_refuses_a_deactivated_account(tenant, portal, member, login):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = member("admin")
    client = bearer(login, user, portal)
    TOTPDevice.objects.create(user=user, name="unconfirmed", confirmed=False)
    assert client.get(ME).json()["mfa_enabled"] is False
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    body = client.get(ME).json()
    assert body["mfa_enabled"] is True
    assert body["id"] == str(user.id)
    assert body["email"] == user.email
    User.objects.filter(id=user.id).update(is_active=False)
    assert client.get(ME).status_code == 401


# --- plans under row-level security, as the web role -----------------------------------------


def _lists(tenant: Any) -> dict[str, QuerySet[Any]]:
    """Page one of each tenant-scoped list, as its API view asks for it."""
    return {
        "audit-events": selectors.audit_event_list(tenant=tenant).order_by("-created_at", "-seq")[:21],
        "members": selectors.membership_list(tenant=tenant)[:21],
        # The API's page: the same rows as values, each role code a scalar subquery (run for the page's rows).
        "members-api": members_api._member_rows(tenant.id)[:21],
        "invitations": selectors.invitation_list(tenant=tenant)[:21],
    }


def _plan(queryset: QuerySet[Any]) -> dict[str, Any]:
    plan = json.loads(queryset.explain(format="json", analyze=True, buffers=True))[0]["Plan"]
    return plan


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _index_columns(name: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
            "WHERE c.relname = %s ORDER BY k.n",
            [name],
        )
        return [row[0] for row in cursor.fetchall()]


def _analyze() -> None:
    with connection.cursor() as cursor:
        for table in ("identity_auditevent", "identity_membership", "identity_invitation", "identity_user"):
            cursor.execute(f"ANALYZE {table}")


def _buffers(plan: dict[str, Any]) -> int:
    return int(plan.get("Shared Hit Blocks", 0)) + int(plan.get("Shared Read Blocks", 0))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_each_tenant_list_walks_a_tenant_index_and_costs_the_same_at_ten_times_the_rows(
    tenant, other_tenant, portal, web_role
):
    add_events(other_tenant, 3000)  # another tenant's rows share the indexes
    add_people(other_tenant, 3000)
    add_events(tenant, 1000)
    add_people(tenant, 100)
    _analyze()
    with django_as(web_role), tenant_context(tenant):
        small = {name: _plan(qs) for name, qs in _lists(tenant).items()}
    add_events(tenant, 9000, start=1001)
    add_people(tenant, 900)
    _analyze()
    with django_as(web_role), tenant_context(tenant):
        large = {name: _plan(qs) for name, qs in _lists(tenant).items()}
    for name in small:
        scans = [n for n in _nodes(large[name]) if n["Node Type"] in ("Index Scan", "Index Only Scan")]
        leading = [n for n in scans if _index_columns(n["Index Name"])[:1] == ["tenant_id"]]
        assert leading, (
            f"{name}: no index scan leading with tenant_id in {[n['Node Type'] for n in _nodes(large[name])]}"
        )
    # A page reads the first rows of the index: about the same buffers at ten times the rows.
    for name in small:
        before, after = _buffers(small[name]), _buffers(large[name])
        assert after <= before + 10, (name, before, after)
        assert after < 120, (name, after)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_account_is_found_by_its_address_through_an_index_at_any_number_of_accounts(tenant, web_role):
    # Sign-in, resets, sign-up and invitations all ask `by_email` (case-insensitive): a whole-table read
    # per attempt would make every login cost more as accounts grow.
    def lookup() -> dict[str, Any]:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE identity_user")
        with django_as(web_role):
            return _plan(User.objects.by_email("Someone.Else@EXAMPLE.test"))

    add_people(tenant, 300)
    small = lookup()
    add_people(tenant, 3000)
    large = lookup()
    scans = [n.get("Index Name") for n in _nodes(large) if "Index" in n["Node Type"]]
    assert "identity_user_email_upper" in scans, [n["Node Type"] for n in _nodes(large)]
    assert _buffers(large) <= _buffers(small) + 2, (_buffers(small), _buffers(large))
    assert _buffers(large) < 10
