"""The entry point every auth and admin event goes through: shape it, append it, log it.

Callers name what happened; this module turns that into a draft, picks the
writer — the caller's transaction, or the durable second connection when the
event must outlive a failing request — and mirrors the event to the log with
its data redacted, so operators see it without reading the table.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.db import connection

from apps.common.logging import redact
from apps.identity.models import Tenant, User
from apps.identity.services.audit.append import _record
from apps.identity.services.audit.chain import AnyAuditEvent, stream_for
from apps.identity.services.audit.draft import Target, _Draft, _make_draft
from apps.identity.services.audit.durable import _record_durably

logger = logging.getLogger("atrium.audit")


def audit_record(
    *,
    tenant: Tenant | None = None,
    actor: User | None = None,
    action: str,
    target: Target = None,
    ip: str | None = None,
    data: Mapping[str, Any] | None = None,
    durable: bool = False,
) -> AnyAuditEvent:
    """Append one event to `tenant`'s stream (or the platform stream) and log it.

    `target` is a model instance or a `(type, id)` pair. `data` is stored as
    JSON and logged with secret-looking keys redacted; do not put secrets in it
    anyway — the row is kept forever and shown to the tenant's auditors.

    The write is one atomic block: lock (or create) the stream's head, take
    seq = count + 1, chain the hash, insert the row, advance the head. Inside a
    caller's transaction it commits or rolls back with the caller.

    `durable=True` is for events that must outlive a failing request — the audit
    of a failed login or a lockout, written just before the request answers
    401/429 and `ATOMIC_REQUESTS` rolls everything back (docs/security.md, trap 18).
    Neither database has autonomous transactions, so the row is written over a
    second connection that commits on its own: a short-lived thread (Django gives
    each thread its own connection to the same database), joined before
    returning, that re-enters the tenant context itself because context
    variables do not cross threads. A second database alias would only be
    another connection to the same database, and would need the tenant setting
    for row-level security applied on it by hand (`apps.common.rls` drives the
    default connection); the thread reuses `tenant_context` unchanged. Outside
    any transaction a plain write is already durable, so no thread is started.
    Should the second connection fail — it cannot see rows the caller has not
    committed yet (a tenant created in the same transaction, or anything inside
    a test's wrapping transaction), or it would wait on a lock the caller holds
    (this stream's head, locked by an earlier event of the same request: the
    wait is detected and cancelled at once) — the event is written in the
    caller's transaction instead and a warning is logged: late is better than
    lost. SQLite allows one writer; there the second connection is used only
    where it can commit (WAL mode, the shared in-memory test database).
    """
    draft = _make_draft(tenant=tenant, actor=actor, action=action, target=target, ip=ip, data=data)
    # Outside any transaction a plain write commits at once: durable already.
    event = _record_durably(draft) if durable and connection.in_atomic_block else _record(draft)
    _log(draft, event)
    return event


def _log(draft: _Draft, event: AnyAuditEvent) -> None:
    tenant = draft.tenant
    logger.info(
        draft.action,
        extra={
            "audit_stream": stream_for(tenant),
            "audit_seq": event.seq,
            "tenant_id": str(tenant.id) if tenant is not None else None,
            "tenant_slug": tenant.slug if tenant is not None else None,
            "actor_id": str(draft.actor_id) if draft.actor_id is not None else None,
            "actor_email": draft.actor_email or None,
            "target_type": draft.target_type or None,
            "target_id": draft.target_id or None,
            "client_ip": draft.ip,
            # Redacted here as well as by the handler's filter: a handler configured
            # without the filter must still not print a password someone put in `data`.
            "audit_data": redact(draft.data),
        },
    )
