"""Helpers shared by the audit-trail tests (not a test module itself): read a chain back and check its links."""

from __future__ import annotations

from apps.common.tenancy import unscoped
from apps.identity.models import AuditEvent, AuditHead, PlatformAuditEvent
from apps.identity.services.audit import GENESIS_HASH, event_hash


def _tenant_events(tenant) -> list[AuditEvent]:
    with unscoped():
        return list(AuditEvent.all_tenants.filter(tenant=tenant).order_by("seq"))


def _platform_events() -> list[PlatformAuditEvent]:
    return list(PlatformAuditEvent.objects.order_by("seq"))


def _head(stream: str) -> AuditHead | None:
    return AuditHead.objects.filter(stream=stream).first()


def _assert_chained(events, stream: str) -> None:
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    prev = GENESIS_HASH
    for event in events:
        assert event.prev_hash == prev
        assert event.hash == event_hash(event, stream=stream)
        prev = event.hash
    head = _head(stream)
    assert head is not None
    assert (head.count, head.last_hash) == (len(events), prev)
