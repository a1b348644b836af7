"""An event's fields, shaped into exactly what the row will store before anything is written.

The hash covers the stored form, not the caller's objects, so every field is
fixed up front: data turned into plain JSON, NULs replaced, the target reduced
to a (type, id) pair, the address canonicalised. A draft is frozen so the
durable writer can hand it to another thread without either side seeing it
change.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias
from uuid import UUID

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from apps.identity.acting import audit_data_with_key
from apps.identity.models import Tenant, User
from apps.identity.services.audit.chain import normalize_ip

Target: TypeAlias = models.Model | tuple[str, Any] | None

_MAX_ACTION = 100
_MAX_TARGET_TYPE = 50
_MAX_TARGET_ID = 64


@dataclass(frozen=True)
class _Draft:
    """One event's fields, fixed before the stream is locked (and before any thread hop)."""

    tenant: Tenant | None
    action: str
    actor_id: UUID | None
    actor_email: str
    target_type: str
    target_id: str
    ip: str | None
    data: dict[str, Any]


def _scrub(value: Any) -> Any:
    # PostgreSQL text and jsonb cannot hold NUL; client input (an attempted e-mail)
    # must not turn an audit write into a 500.
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_scrub(str(k)): _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _normalize_data(data: Mapping[str, Any] | None) -> dict[str, Any]:
    """`data` as plain JSON (UUIDs, datetimes, decimals turned to strings), as it will be stored.

    Hashing the stored form, not the caller's objects, is what lets the verifier
    recompute the same hash from the row later. NaN and infinities are refused:
    JSON has no spelling for them.
    """
    if not data:
        return {}
    text = json.dumps(dict(data), cls=DjangoJSONEncoder, allow_nan=False)
    loaded = _scrub(json.loads(text))
    assert isinstance(loaded, dict)
    return loaded


def _target_fields(target: Target) -> tuple[str, str]:
    if target is None:
        return "", ""
    if isinstance(target, models.Model):
        meta = target._meta
        return f"{meta.app_label}.{meta.model_name}", str(target.pk)
    target_type, target_id = target
    return str(target_type), str(target_id)


def _check_length(name: str, value: str, limit: int) -> None:
    if len(value) > limit:
        # A programming error (the caller's action or target), not client input.
        raise ValueError(f"audit {name} is longer than {limit} characters: {value[:40]!r}…")


def _make_draft(
    *,
    tenant: Tenant | None,
    actor: User | None,
    action: str,
    target: Target,
    ip: str | None,
    data: Mapping[str, Any] | None,
) -> _Draft:
    """The draft of `audit_record`'s arguments; raises ValueError for an action or target too long to store."""
    _check_length("action", action, _MAX_ACTION)
    target_type, target_id = _target_fields(target)
    _check_length("target type", target_type, _MAX_TARGET_TYPE)
    _check_length("target id", target_id, _MAX_TARGET_ID)
    return _Draft(
        tenant=tenant,
        action=action,
        actor_id=actor.id if actor is not None else None,
        actor_email=_scrub(actor.email) if actor is not None else "",
        target_type=_scrub(target_type),
        target_id=_scrub(target_id),
        ip=normalize_ip(ip),
        # An event of a request made with an API key names the key (`data.api_client`, its public prefix).
        data=_normalize_data(audit_data_with_key(actor.id if actor is not None else None, data)),
    )
