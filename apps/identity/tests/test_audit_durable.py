"""The audit trail under failure and load: durable writes that outlive the caller's rollback, and concurrency.

A durable event goes over a second connection so that a request which then fails (and rolls back)
still leaves its audit row; where that connection cannot be used it falls back to the caller's.
Many writers to one stream keep one gapless, verifiable chain. Recording and `verify_audit_chain`:
`test_audit.py`.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction

from apps.identity.models import Tenant
from apps.identity.services.audit import audit_chain_verify, audit_record, stream_for
from apps.identity.tests.audit_support import _assert_chained, _head, _platform_events, _tenant_events
from apps.identity.tests.factories import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db


# --- durable writes (must outlive the request's rollback) ---------------------------------------


class _RequestFailed(Exception):
    pass


def _failing_request(work) -> None:
    """Run `work` the way ATOMIC_REQUESTS runs a view that then errors: in a transaction that rolls back."""
    with transaction.atomic():
        work()
        raise _RequestFailed


def _fallbacks(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("audit.durable_")]


@pytest.mark.postgres  # SQLite has one writer: the caller's transaction holds it (see _second_connection_usable)
@pytest.mark.django_db(transaction=True)
def test_durable_event_survives_the_callers_rollback(caplog):
    tenant = TenantFactory(slug="durable-a")

    def failed_login() -> None:
        # What a failed login does before auditing: read inside the request's transaction.
        Tenant.objects.get(slug="durable-a")
        audit_record(tenant=tenant, action="auth.login_failed", data={"email": "x@example.test"}, durable=True)
        audit_record(action="auth.lockout", durable=True)

    with caplog.at_level("INFO", logger="atrium.audit"), pytest.raises(_RequestFailed):
        _failing_request(failed_login)
    assert [e.action for e in _tenant_events(tenant)] == ["auth.login_failed"]
    assert [e.action for e in _platform_events()] == ["auth.lockout"]
    assert audit_chain_verify().ok
    assert _fallbacks(caplog) == []  # written over the second connection, not by luck


@pytest.mark.django_db(transaction=True)
def test_non_durable_event_rolls_back_with_the_caller():
    tenant = TenantFactory(slug="durable-b")

    def remove_member() -> None:
        Tenant.objects.get(slug="durable-b")
        audit_record(tenant=tenant, action="member.removed")

    with pytest.raises(_RequestFailed):
        _failing_request(remove_member)
    assert _tenant_events(tenant) == []
    assert _head(stream_for(tenant)) is None  # the head rolled back with the row
    # The chain picks up cleanly: the rolled-back event left no gap.
    audit_record(tenant=tenant, action="member.removed")
    assert [e.seq for e in _tenant_events(tenant)] == [1]
    assert audit_chain_verify(tenant=tenant).ok


def test_durable_inside_a_test_transaction_falls_back_to_the_callers(tenant, caplog):
    """The second connection cannot see the uncommitted tenant: the event is still written, here."""
    audit_record(tenant=tenant, action="test.first")
    with caplog.at_level("INFO", logger="atrium.audit"):
        event = audit_record(tenant=tenant, action="auth.login_failed", durable=True)
    assert event.seq == 2
    expected = "audit.durable_fallback" if connection.vendor == "postgresql" else "audit.durable_unavailable"
    assert _fallbacks(caplog) in ([expected], [])  # SQLite warns once per process
    _assert_chained(_tenant_events(tenant), stream_for(tenant))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_durable_event_survives_even_after_the_caller_wrote(caplog):
    tenant = TenantFactory(slug="durable-c")
    user = UserFactory()

    def lockout() -> None:
        type(user).objects.filter(pk=user.pk).update(name="changed in the failing request")
        audit_record(tenant=tenant, actor=user, action="auth.lockout", durable=True)

    with caplog.at_level("INFO", logger="atrium.audit"), pytest.raises(_RequestFailed):
        _failing_request(lockout)
    assert [e.action for e in _tenant_events(tenant)] == ["auth.lockout"]
    user.refresh_from_db()
    assert user.name != "changed in the failing request"
    assert _fallbacks(caplog) == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_durable_after_a_plain_event_of_the_same_stream_does_not_hang(caplog):
    """The caller holds the head lock: the wait is detected and broken, the event lands in the caller's."""
    tenant = TenantFactory(slug="durable-d")
    with caplog.at_level("INFO", logger="atrium.audit"), transaction.atomic():
        audit_record(tenant=tenant, action="test.plain")
        audit_record(tenant=tenant, action="test.durable", durable=True)
    assert _fallbacks(caplog) == ["audit.durable_fallback"]
    # Broken at once by the self-deadlock check (its cancel), not by waiting out the lock timeout.
    [fallback] = [r for r in caplog.records if r.getMessage() == "audit.durable_fallback"]
    error = str(getattr(fallback, "error", ""))
    assert "user request" in error, error
    assert "lock timeout" not in error
    assert [e.action for e in _tenant_events(tenant)] == ["test.plain", "test.durable"]
    assert audit_chain_verify(tenant=tenant).ok


# --- concurrency --------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_to_one_stream_stay_consistent():
    tenant = TenantFactory(slug="busy")
    writers, per_writer = 8, 5
    barrier = threading.Barrier(writers)
    errors: list[Exception] = []

    def write(n: int) -> None:
        try:
            barrier.wait()  # all start together, racing to create the head too
            for i in range(per_writer):
                audit_record(tenant=tenant, action=f"test.w{n}.{i}")
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    events = _tenant_events(tenant)
    assert len(events) == writers * per_writer
    _assert_chained(events, stream_for(tenant))
    assert audit_chain_verify(tenant=tenant).ok
