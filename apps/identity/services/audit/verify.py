"""Proof that the audit trail was not altered: every stream recomputed against its rows and its head.

Editing a row breaks its hash, deleting one breaks `seq` continuity and the next
row's link, and deleting the newest rows shows against the stream's head. This
is operator code, run by `manage.py verify_audit_chain`: it reads every tenant's
rows through the named escape `unscoped()` and takes no lock, so a check never
holds up the writers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from uuid import UUID

from django.db.models import QuerySet

from apps.common.tenancy import unscoped
from apps.identity.models import AuditEvent, AuditHead, PlatformAuditEvent, Tenant
from apps.identity.services.audit.chain import (
    GENESIS_HASH,
    PLATFORM_STREAM,
    TENANT_STREAM_PREFIX,
    AnyAuditEvent,
    event_hash,
    stream_for,
)


@dataclass(frozen=True)
class ChainBreak:
    """The first place a stream stops verifying."""

    stream: str
    label: str
    seq: int | None
    problem: str

    def __str__(self) -> str:
        where = f"seq {self.seq}" if self.seq is not None else "head"
        name = self.stream if self.label == self.stream else f"{self.stream} ({self.label})"
        return f"stream {name} {where}: {self.problem}"


@dataclass(frozen=True)
class StreamReport:
    stream: str
    label: str
    events: int
    broken: ChainBreak | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None


@dataclass
class ChainReport:
    streams: list[StreamReport] = field(default_factory=list)

    @property
    def events(self) -> int:
        return sum(s.events for s in self.streams)

    @property
    def breaks(self) -> list[ChainBreak]:
        return [s.broken for s in self.streams if s.broken is not None]

    @property
    def ok(self) -> bool:
        return not self.breaks


@dataclass(frozen=True)
class _Stream:
    name: str
    label: str
    tenant_id: UUID | None


def _streams(tenant: Tenant | None) -> list[_Stream]:
    """Every stream that has rows or a head (tenants by slug, then the platform), or just `tenant`'s."""
    if tenant is not None:
        return [_Stream(stream_for(tenant), tenant.slug, tenant.id)]
    with unscoped():
        tenant_ids: set[UUID] = set(AuditEvent.all_tenants.values_list("tenant_id", flat=True).distinct())
        head_names = list(AuditHead.objects.values_list("stream", flat=True))
        has_platform = PLATFORM_STREAM in head_names or PlatformAuditEvent.objects.exists()
    for name in head_names:
        if name.startswith(TENANT_STREAM_PREFIX):
            try:
                tenant_ids.add(UUID(name.removeprefix(TENANT_STREAM_PREFIX)))
            except ValueError:
                continue  # not a stream this module writes; nothing to check it against
    slugs = dict(Tenant.objects.filter(id__in=tenant_ids).values_list("id", "slug"))
    # A head whose tenant row is gone still gets walked: its events vanished with the tenant.
    found = [_Stream(f"{TENANT_STREAM_PREFIX}{tid}", slugs.get(tid, "deleted tenant"), tid) for tid in tenant_ids]
    found.sort(key=lambda s: (s.label, s.name))
    if has_platform:
        found.append(_Stream(PLATFORM_STREAM, PLATFORM_STREAM, None))
    return found


def _head(stream: str) -> tuple[int, str] | None:
    row = AuditHead.objects.filter(stream=stream).values_list("count", "last_hash").first()
    return (int(row[0]), str(row[1])) if row is not None else None


def _rows(stream: _Stream) -> Iterable[AnyAuditEvent]:
    rows: QuerySet[AuditEvent] | QuerySet[PlatformAuditEvent]
    if stream.tenant_id is None:
        rows = PlatformAuditEvent.objects.order_by("seq")
    else:
        rows = AuditEvent.all_tenants.filter(tenant_id=stream.tenant_id).order_by("seq")
    # Streamed in chunks: a long-lived tenant's chain need not fit in memory.
    return rows.iterator(chunk_size=2000)


def _verify_stream(stream: _Stream) -> StreamReport:
    """Walk one stream in seq order; report its first break.

    No lock is taken, so writers are never held up by an operator's check. The
    head is read before and after the walk instead: every row a committed head
    counts was committed with it, so an intact stream always satisfies
    head-before.count ≤ rows walked ≤ head-after.count, even while events are
    being appended. Fewer rows than the head counted means rows were deleted;
    more than it counts afterwards means rows were added behind its back.
    """

    def broken(seq: int | None, problem: str, events: int) -> StreamReport:
        return StreamReport(stream.name, stream.label, events, ChainBreak(stream.name, stream.label, seq, problem))

    with unscoped():
        head_before = _head(stream.name)
        expected_seq = 1
        prev_hash = GENESIS_HASH
        hash_at: dict[int, str] = {}
        before_count = head_before[0] if head_before else 0
        for row in _rows(stream):
            if row.seq != expected_seq:
                if row.seq > expected_seq:
                    gap = (
                        f"missing seq {expected_seq} (row deleted)"
                        if row.seq == expected_seq + 1
                        else f"missing seq {expected_seq}..{row.seq - 1} (rows deleted)"
                    )
                    return broken(expected_seq, gap, expected_seq - 1)
                return broken(row.seq, f"duplicate seq {row.seq}", expected_seq - 1)
            if event_hash(row, stream=stream.name) != row.hash:
                return broken(row.seq, "hash mismatch (row edited)", expected_seq - 1)
            if row.prev_hash != prev_hash:
                problem = (
                    "prev_hash is not the genesis hash (chain re-rooted)"
                    if row.seq == 1
                    else f"prev_hash does not match the hash of seq {row.seq - 1} (row replaced or re-hashed)"
                )
                return broken(row.seq, problem, expected_seq - 1)
            if row.seq == before_count:
                hash_at[row.seq] = row.hash
            prev_hash = row.hash
            expected_seq += 1
        walked = expected_seq - 1
        head_after = _head(stream.name)

    if head_before is None or head_after is None:
        if walked:
            return broken(None, f"no head row, chain has {walked} events (head deleted)", walked)
        return StreamReport(stream.name, stream.label, 0)
    # Head breaks name the first seq that is missing (or should not be there).
    if walked < head_before[0]:
        return broken(
            walked + 1, f"head says {head_before[0]} events, chain has {walked} (newest rows deleted)", walked
        )
    if walked > head_after[0]:
        return broken(
            head_after[0] + 1,
            f"head says {head_after[0]} events, chain has {walked} (rows added outside the audit service)",
            walked,
        )
    if head_before[0] and hash_at.get(head_before[0]) != head_before[1]:
        return broken(head_before[0], "head's last hash does not match this row (newest rows replaced)", walked)
    if walked == head_after[0] and walked and prev_hash != head_after[1]:
        return broken(walked, "head's last hash does not match this row (newest rows replaced)", walked)
    return StreamReport(stream.name, stream.label, walked)


def audit_chain_verify(
    *, tenant: Tenant | None = None, on_stream: Callable[[int, int, StreamReport], None] | None = None
) -> ChainReport:
    """Recompute every stream (or only `tenant`'s) and report each one's first break.

    Operator code: it reads every tenant's rows through the named escape
    `unscoped()`, one short transaction per stream. `on_stream(index, total,
    result)` is called after each stream, for progress output.
    """
    report = ChainReport()
    streams = _streams(tenant)
    for index, stream in enumerate(streams, start=1):
        result = _verify_stream(stream)
        report.streams.append(result)
        if on_stream is not None:
            on_stream(index, len(streams), result)
    return report
