"""The audit trail: recording, the tenant wall and `verify_audit_chain`.

Per-stream hash chains and their heads as `audit_record` writes them, what a tenant context
(and, under PostgreSQL, row-level security) lets through, and how the command finds an edited,
deleted, re-hashed or appended row. Durable writes and concurrent writers: `test_audit_durable.py`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from apps.common.tenancy import TenantContextMissing, tenant_context, unscoped
from apps.identity.models import AuditEvent, AuditHead, PlatformAuditEvent
from apps.identity.selectors import audit_event_list
from apps.identity.services.audit import (
    GENESIS_HASH,
    PLATFORM_STREAM,
    audit_chain_verify,
    audit_record,
    compute_hash,
    event_hash,
    stream_for,
)
from apps.identity.tests.audit_support import _assert_chained, _platform_events, _tenant_events
from apps.identity.tests.factories import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db


# --- helpers ------------------------------------------------------------------------------------


def _verify(*args: str) -> str:
    """Run the command; return its stdout, or raise CommandError with stderr attached."""
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_audit_chain", *args, stdout=out, stderr=err)
    except CommandError as exc:
        exc.stderr = err.getvalue()  # type: ignore[attr-defined]
        raise
    return out.getvalue()


def _broken(*args: str) -> str:
    with pytest.raises(CommandError) as info:
        _verify(*args)
    assert info.value.returncode == 1
    return f"{info.value}\n{info.value.stderr}"  # type: ignore[attr-defined]


@pytest.fixture
def actor():
    return UserFactory(email="auditor@example.test")


@pytest.fixture
def chains(tenant, other_tenant, actor):
    """Three events for `tenant`, two for `other_tenant`, two on the platform stream."""
    for n in range(3):
        audit_record(tenant=tenant, actor=actor, action=f"test.a{n}", target=("thing", n), ip="10.0.0.1")
    for n in range(2):
        audit_record(tenant=other_tenant, actor=actor, action=f"test.b{n}", data={"n": n})
    audit_record(action="auth.password_reset_requested", data={"email": "x@example.test"})
    audit_record(actor=actor, action="auth.email_verified", target=actor)
    return tenant, other_tenant


# --- recording ----------------------------------------------------------------------------------


def test_each_tenant_and_the_platform_get_their_own_chain(chains):
    a, b = chains
    a_events, b_events, p_events = _tenant_events(a), _tenant_events(b), _platform_events()
    assert [e.action for e in a_events] == ["test.a0", "test.a1", "test.a2"]
    assert [e.action for e in b_events] == ["test.b0", "test.b1"]
    assert len(p_events) == 2
    _assert_chained(a_events, stream_for(a))
    _assert_chained(b_events, stream_for(b))
    _assert_chained(p_events, PLATFORM_STREAM)
    # Same seq in two streams, different hashes: the stream name is hashed.
    assert a_events[0].seq == b_events[0].seq == 1
    assert a_events[0].hash != b_events[0].hash


def test_record_fills_actor_target_ip_and_json_data(tenant, actor):
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    some_id = uuid.uuid4()
    event = audit_record(
        tenant=tenant,
        actor=actor,
        action="member.role_changed",
        target=tenant,
        ip="2001:DB8:0:0::1",
        data={"id": some_id, "at": when, "ratio": 2.0, "nested": {"b": [1, 2]}},
    )
    assert isinstance(event, AuditEvent)
    assert event.tenant_id == tenant.id
    assert (event.actor_id, event.actor_email) == (actor.id, "auditor@example.test")
    assert (event.target_type, event.target_id) == ("identity.tenant", str(tenant.id))
    assert event.ip == "2001:db8::1"
    stored = _tenant_events(tenant)[0]
    # UUIDs and datetimes are stored as JSON strings; the stored row still verifies.
    assert stored.data["id"] == str(some_id)
    assert stored.data["at"].startswith("2025-01-02T03:04:05")
    assert stored.hash == event_hash(stored, stream=stream_for(tenant))


def test_unusable_ip_and_nul_bytes_do_not_break_the_write(tenant):
    event = audit_record(
        tenant=tenant, action="auth.login_failed", ip="not-an-ip", data={"email": "evil\x00@example.test"}
    )
    stored = _tenant_events(tenant)[0]
    assert event.ip is None
    assert "\x00" not in stored.data["email"]
    assert stored.hash == event_hash(stored, stream=stream_for(tenant))


def test_overlong_action_is_a_programming_error(tenant):
    with pytest.raises(ValueError, match="action"):
        audit_record(tenant=tenant, action="x" * 101)


def test_hash_covers_every_field():
    base = {
        "stream": "platform",
        "seq": 1,
        "prev_hash": GENESIS_HASH,
        "action": "a",
        "actor_id": None,
        "actor_email": "",
        "target_type": "",
        "target_id": "",
        "ip": None,
        "data": {"k": "v"},
        "created_at": datetime(2025, 1, 1, tzinfo=UTC),
    }
    digest = compute_hash(**base)
    changes = {
        "stream": "tenant:x",
        "seq": 2,
        "prev_hash": "1" * 64,
        "action": "b",
        "actor_id": uuid.uuid4(),
        "actor_email": "e@example.test",
        "target_type": "t",
        "target_id": "1",
        "ip": "10.0.0.1",
        "data": {"k": "w"},
        "created_at": datetime(2025, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
    }
    for key, value in changes.items():
        assert compute_hash(**{**base, key: value}) != digest, key


def test_record_writes_a_structured_log_line_without_secret_values(tenant, actor, caplog):
    with caplog.at_level("INFO", logger="atrium.audit"):
        audit_record(tenant=tenant, actor=actor, action="auth.login_failed", data={"password": "hunter2!", "n": 1})
    record = next(r for r in caplog.records if r.name == "atrium.audit")
    assert record.getMessage() == "auth.login_failed"
    assert record.tenant_id == str(tenant.id)
    assert record.actor_id == str(actor.id)
    assert record.audit_seq == 1
    assert record.audit_data["n"] == 1
    assert "hunter2!" not in str(vars(record))


# --- the tenant wall ----------------------------------------------------------------------------


def test_tenant_context_sees_only_its_own_events(chains):
    a, b = chains
    with tenant_context(a):
        assert {e.tenant_id for e in AuditEvent.objects.all()} == {a.id}
        assert list(audit_event_list(tenant=a).values_list("seq", flat=True)) == [3, 2, 1]
        # Asking for B's events from A's context yields nothing, not B's rows.
        assert not audit_event_list(tenant=b).exists()
    with pytest.raises(TenantContextMissing):
        list(AuditEvent.objects.all())


def test_recording_for_b_inside_as_context_goes_to_b_and_restores_a(tenant, other_tenant):
    with tenant_context(tenant):
        audit_record(tenant=other_tenant, action="test.cross")
        assert not AuditEvent.objects.exists()  # still A's context afterwards
    assert [e.action for e in _tenant_events(other_tenant)] == ["test.cross"]


@pytest.mark.postgres
def test_app_role_cannot_write_a_tenants_audit_row_without_its_context(tenant):
    """RLS is the second wall on the chain too: a raw insert outside the context is refused."""
    from django.db.utils import ProgrammingError

    with pytest.raises(ProgrammingError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO identity_auditevent (id, tenant_id, seq, action, actor_email, target_type, target_id,"
            " data, prev_hash, hash, created_at, updated_at)"
            " VALUES (%s, %s, 1, 'x', '', '', '', '{}', '', '', now(), now())",
            [str(uuid.uuid4()), str(tenant.id)],
        )


# --- verify_audit_chain -------------------------------------------------------------------------


def test_verify_passes_on_an_intact_chain(chains):
    assert _verify().strip().splitlines()[-1] == "ok: 7 events in 3 streams"
    report = audit_chain_verify()
    assert report.ok
    assert report.events == 7


def test_verify_with_no_events_is_ok(db):
    assert _verify().strip() == "ok: 0 events in 0 streams"


def test_verify_detects_an_edited_row(chains):
    a, _ = chains
    with unscoped():
        AuditEvent.all_tenants.filter(tenant=a, seq=2).update(action="test.innocent")
    message = _broken()
    assert f"stream tenant:{a.id} (acme-test) seq 2: hash mismatch (row edited)" in message


def test_verify_detects_an_edited_platform_row(chains):
    PlatformAuditEvent.objects.filter(seq=1).update(data={"email": "someone-else@example.test"})
    assert "stream platform seq 1: hash mismatch (row edited)" in _broken()


def test_verify_detects_a_deleted_middle_row(chains):
    a, _ = chains
    with unscoped():
        AuditEvent.all_tenants.filter(tenant=a, seq=2).delete()
    assert f"stream tenant:{a.id} (acme-test) seq 2: missing seq 2 (row deleted)" in _broken()


def test_verify_detects_a_deleted_newest_row_through_the_head(chains):
    a, _ = chains
    with unscoped():
        AuditEvent.all_tenants.filter(tenant=a, seq=3).delete()
    message = _broken()
    assert f"stream tenant:{a.id} (acme-test) seq 3: head says 3 events, chain has 2 (newest rows deleted)" in message


def test_verify_detects_a_rehashed_row_by_the_next_link(chains):
    """An editor who recomputes the edited row's hash still breaks the next row's prev_hash."""
    a, _ = chains
    stream = stream_for(a)
    with unscoped():
        row = AuditEvent.all_tenants.get(tenant=a, seq=2)
        row.action = "test.forged"
        row.hash = event_hash(row, stream=stream)
        AuditEvent.all_tenants.filter(pk=row.pk).update(action=row.action, hash=row.hash)
    assert "seq 3: prev_hash does not match the hash of seq 2" in _broken()


def test_verify_detects_rows_appended_behind_the_heads_back(chains):
    a, _ = chains
    stream = stream_for(a)
    last = _tenant_events(a)[-1]
    forged = AuditEvent(tenant=a, seq=4, action="test.forged", prev_hash=last.hash, data={})
    forged.hash = event_hash(forged, stream=stream)
    with tenant_context(a):
        forged.save()
    assert "seq 4: head says 3 events, chain has 4 (rows added outside the audit service)" in _broken()


def test_verify_detects_a_deleted_head(chains):
    a, _ = chains
    AuditHead.objects.filter(stream=stream_for(a)).delete()
    assert "no head row, chain has 3 events (head deleted)" in _broken()


def test_verify_names_every_broken_stream(chains):
    a, b = chains
    with unscoped():
        AuditEvent.all_tenants.filter(tenant=b, seq=1).update(ip="10.9.9.9")
        AuditEvent.all_tenants.filter(tenant=a, seq=1).update(actor_email="other@example.test")
    message = _broken()
    assert f"tenant:{a.id} (acme-test) seq 1: hash mismatch" in message
    assert f"tenant:{b.id} (globex-test) seq 1: hash mismatch" in message


def test_verify_tenant_option_limits_the_walk(chains):
    a, b = chains
    with unscoped():
        AuditEvent.all_tenants.filter(tenant=b, seq=1).update(action="test.tampered")
    assert _verify("--tenant", a.slug).strip() == "ok: 3 events in 1 streams"
    message = _broken("--tenant", b.slug)
    assert f"tenant:{b.id} (globex-test) seq 1" in message
    assert str(a.id) not in message


def test_verify_unknown_tenant_exits_1_with_a_message(db):
    message = _broken("--tenant", "no-such-tenant")
    assert "unknown tenant slug: 'no-such-tenant'" in message
    assert "Traceback" not in message


def test_verify_shows_progress_per_stream_when_many(db):
    tenants = [TenantFactory(slug=f"many-{n:02d}") for n in range(11)]
    for t in tenants:
        audit_record(tenant=t, action="test.one")
    lines = _verify().strip().splitlines()
    assert len(lines) == 12
    assert lines[0].startswith("[1/11] tenant:")
    assert "(many-00): 1 events ok" in lines[0]
    assert lines[-1] == "ok: 11 events in 11 streams"


def test_chain_continues_after_verify_and_stays_valid(chains):
    a, _ = chains
    _verify()
    audit_record(tenant=a, action="test.after")
    _assert_chained(_tenant_events(a), stream_for(a))
    assert _verify().strip().endswith("ok: 8 events in 3 streams")
