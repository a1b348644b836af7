"""Appending one event to its stream under the stream's head lock.

A chain alone cannot see its newest rows deleted (docs/security.md, trap 16), so
each stream also has an `AuditHead` row — count and last hash — kept in a
separate global table and updated in the same transaction as the event. Writers
lock the head row, which also serialises them: `seq` is the head's count + 1,
never `MAX(seq) + 1` read from rows that a concurrent writer may not have
committed. The same append runs on the caller's connection and on the durable
writer's second one, so it lives apart from both.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from apps.common.tenancy import tenant_context
from apps.identity.models import AuditEvent, AuditHead, PlatformAuditEvent
from apps.identity.services.audit.chain import GENESIS_HASH, PLATFORM_STREAM, AnyAuditEvent, compute_hash, stream_for
from apps.identity.services.audit.draft import _Draft

# `AuditHead`'s table; its RETURNING row says this transaction made (and so holds) the head.
_CREATE_HEAD = (
    'INSERT INTO "identity_audithead" ("stream", "count", "last_hash") VALUES (%s, 0, \'\') '
    'ON CONFLICT DO NOTHING RETURNING "stream"'
)


def _record(draft: _Draft) -> AnyAuditEvent:
    """Append `draft` to its stream in one atomic block on this thread's connection."""
    if draft.tenant is None:
        with transaction.atomic():
            return _append(draft, PLATFORM_STREAM)
    # The tenant's own context: the manager's wall and, on PostgreSQL, the RLS
    # policy both require it to write the tenant's row.
    with tenant_context(draft.tenant):
        return _append(draft, stream_for(draft.tenant))


def _lock_head(stream: str) -> AuditHead:
    """The stream's head row, locked until the transaction ends; created if missing.

    Two first writers may race to create it: `INSERT … ON CONFLICT DO NOTHING`
    lets the loser wait for the winner's commit and then find the row, instead
    of failing with an IntegrityError mid-transaction. The winner's insert
    returns its row, which its own transaction holds locked: no second read.
    """
    head = AuditHead.objects.select_for_update().filter(stream=stream).first()
    if head is not None:
        return head
    with connection.cursor() as cursor:
        cursor.execute(_CREATE_HEAD, [stream])
        created = cursor.fetchone() is not None
    if created:
        return AuditHead(stream=stream, count=0, last_hash="")
    return AuditHead.objects.select_for_update().get(stream=stream)


def _append(draft: _Draft, stream: str) -> AnyAuditEvent:
    head = _lock_head(stream)
    seq = head.count + 1
    prev_hash = head.last_hash if head.count else GENESIS_HASH
    # Set before hashing: the hash covers the exact time the row stores.
    created_at = timezone.now()
    digest = compute_hash(
        stream=stream,
        seq=seq,
        prev_hash=prev_hash,
        action=draft.action,
        actor_id=draft.actor_id,
        actor_email=draft.actor_email,
        target_type=draft.target_type,
        target_id=draft.target_id,
        ip=draft.ip,
        data=draft.data,
        created_at=created_at,
    )
    fields: dict[str, Any] = {
        "seq": seq,
        "action": draft.action,
        "actor_id": draft.actor_id,
        "actor_email": draft.actor_email,
        "target_type": draft.target_type,
        "target_id": draft.target_id,
        "ip": draft.ip,
        "data": draft.data,
        "prev_hash": prev_hash,
        "hash": digest,
        "created_at": created_at,
    }
    event: AnyAuditEvent
    if draft.tenant is None:
        event = PlatformAuditEvent.objects.create(**fields)
    else:
        event = AuditEvent.objects.create(tenant=draft.tenant, **fields)
    AuditHead.objects.filter(stream=stream).update(count=seq, last_hash=digest)
    return event
