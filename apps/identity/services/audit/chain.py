"""The hash chain's canonical form: the one definition the writer and the verifier must share.

An event's `hash` is sha256(prev_hash + canonical JSON of its own fields). The
writer computes it before the row exists; the verifier recomputes it from the
row the database hands back, maybe years later, on another machine, after
PostgreSQL has rewritten numbers (jsonb `numeric`), addresses (`inet`) and time
zones. Both sides go through this module so the two computations cannot drift
apart: anything the database may normalise is normalised here first.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, TypeAlias
from uuid import UUID

from apps.identity.models import AuditEvent, PlatformAuditEvent, Tenant

GENESIS_HASH: Final = "0" * 64
PLATFORM_STREAM: Final = "platform"
TENANT_STREAM_PREFIX: Final = "tenant:"

AnyAuditEvent: TypeAlias = AuditEvent | PlatformAuditEvent


def stream_for(tenant: Tenant | None) -> str:
    """The stream name an event of `tenant` (or of no tenant) belongs to."""
    return f"{TENANT_STREAM_PREFIX}{tenant.id}" if tenant is not None else PLATFORM_STREAM


def normalize_ip(ip: str | None) -> str | None:
    """`ip` in Python's canonical text form, or None when it is not an address.

    PostgreSQL's `inet` rewrites addresses (`2001:DB8:0::1` → `2001:db8::1`), so
    the hash is computed over one canonical form, applied again when verifying.
    A malformed address (a spoofed header, say) must not fail the audit: it is
    dropped rather than stored.
    """
    if not ip:
        return None
    try:
        return str(ipaddress.ip_address(str(ip).split("%", 1)[0].strip()))
    except ValueError:
        return None


def _hash_form(value: Any) -> Any:
    """`value` as it compares after a round trip through the database's JSON column.

    PostgreSQL's jsonb stores numbers as `numeric`, so the float 1e16 comes back as
    the int 10000000000000000 and 2.0 may come back as 2: integral floats are hashed
    as ints so the recomputed hash matches the stored one on every backend.
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _hash_form(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_hash_form(v) for v in value]
    return value


def _canonical(fields: Mapping[str, Any]) -> str:
    # Sorted keys, fixed separators, ASCII only: the same bytes on every machine and version.
    return json.dumps(_hash_form(dict(fields)), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _iso(moment: datetime) -> str:
    # Normalised to UTC with fixed precision: the database may hand it back in another zone.
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def compute_hash(
    *,
    stream: str,
    seq: int,
    prev_hash: str,
    action: str,
    actor_id: UUID | str | None,
    actor_email: str,
    target_type: str,
    target_id: str,
    ip: str | None,
    data: Mapping[str, Any],
    created_at: datetime,
) -> str:
    """sha256 over `prev_hash` + the canonical JSON of one event's fields.

    The stream name is inside the hashed fields, so a row copied into another
    tenant's stream does not verify there.
    """
    payload = _canonical(
        {
            "stream": stream,
            "seq": seq,
            "action": action,
            "actor_id": str(actor_id) if actor_id is not None else None,
            "actor_email": actor_email,
            "target_type": target_type,
            "target_id": target_id,
            "ip": normalize_ip(ip),
            "data": data,
            "created_at": _iso(created_at),
        }
    )
    return hashlib.sha256((prev_hash + payload).encode("utf-8")).hexdigest()


def event_hash(event: AnyAuditEvent, *, stream: str) -> str:
    """The hash a stored row should carry, recomputed from its fields."""
    return compute_hash(
        stream=stream,
        seq=event.seq,
        prev_hash=event.prev_hash,
        action=event.action,
        actor_id=event.actor_id,
        actor_email=event.actor_email,
        target_type=event.target_type,
        target_id=event.target_id,
        ip=event.ip,
        data=event.data,
        created_at=event.created_at,
    )
