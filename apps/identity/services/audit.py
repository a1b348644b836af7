"""The audit trail: hash-chained event streams, their heads, and the check that walks them.

Every auth and admin event is one row in a *stream*: each tenant has its own
(`tenant:<uuid>`, rows in `AuditEvent`, behind the tenant wall) and events with
no tenant go to the platform stream (`platform`, rows in `PlatformAuditEvent`).
Within a stream, event `seq` n stores `prev_hash` = the hash of event n-1 (64
zeros for the first) and `hash` = sha256(prev_hash + canonical JSON of its own
fields), so editing a row breaks its hash and deleting one breaks `seq`
continuity and the next row's link.

A chain alone cannot see its newest rows deleted (docs/security.md, trap 16), so each
stream also has an `AuditHead` row — count and last hash — kept in a separate
global table and updated in the same transaction as the event. Writers lock
the head row, which also serialises them: `seq` is the head's count + 1, never
`MAX(seq) + 1` read from rows that a concurrent writer may not have committed.

`audit_chain_verify` recomputes all of it; `manage.py verify_audit_chain` is
its command-line face. Reads for the API (`audit_event_list`) live here too,
next to the model they read.

Events about a user's account — their password, their second factor — are
recorded by `audit_record_user_event`, in more than one stream. The account is
global (one password and one authenticator for every tenant the user belongs
to), so a tenant admin answering "who turned off MFA?" or "when did this
member last change their password?" needs the event in *their* stream; the
platform stream gets it too, for operators. The decision: the platform stream
plus every tenant where the user has an active membership (of a tenant not
offboarded), plus the acting session's tenant when there is one. Not only the
session's tenant: a member of two tenants who changes their password from one
has changed it for the other, whose admin must see it as well; and a password
reset has no session at all. Suspended members and offboarded tenants are
left out — their admins no longer vouch for the account. Each copy is its own
link in its own chain (same action, actor, target `("user", id)` and data); the
streams are written platform first, then tenants by id, so two writers always
lock heads in the same order.

What the tenant's auditors read must never hold a credential. `data` of a user
event is passed through `audit_data_redacted` before it is stored, and the API
passes every event's `data` through it again on the way out (older rows, and
events recorded with plain `audit_record`): one key-based rule, in one place.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, TypeAlias
from uuid import UUID

from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, connection, connections, models, transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.common.logging import redact, redact_text
from apps.common.tenancy import TenantLike, tenant_context, unscoped
from apps.identity.models import AuditEvent, AuditHead, PlatformAuditEvent, Tenant, User
from apps.identity.selectors import user_audit_tenants

logger = logging.getLogger("atrium.audit")

GENESIS_HASH: Final = "0" * 64
PLATFORM_STREAM: Final = "platform"
TENANT_STREAM_PREFIX: Final = "tenant:"

# How long a durable write waits for a row lock held elsewhere before it gives up
# and falls back to the caller's transaction (see `_record_durably`). Long enough
# to ride out ordinary head contention; a wait on the caller itself is detected
# and broken at once, so this only bounds longer chains of waits.
DURABLE_LOCK_TIMEOUT_MS: Final = 5000
# SQLite (development only): its one writer makes a wait on the caller likely.
SQLITE_BUSY_TIMEOUT_MS: Final = 1000
_DEADLOCK_POLL_SECONDS: Final = 0.05

Target: TypeAlias = models.Model | tuple[str, Any] | None
AnyAuditEvent: TypeAlias = AuditEvent | PlatformAuditEvent

_MAX_ACTION = 100
_MAX_TARGET_TYPE = 50
_MAX_TARGET_ID = 64


# --------------------------------------------------------------------------- hashing


def stream_for(tenant: Tenant | None) -> str:
    """The stream name an event of `tenant` (or of no tenant) belongs to."""
    return f"{TENANT_STREAM_PREFIX}{tenant.id}" if tenant is not None else PLATFORM_STREAM


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


# --------------------------------------------------------------------------- input shaping


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


# --------------------------------------------------------------------------- writing


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
    _check_length("action", action, _MAX_ACTION)
    target_type, target_id = _target_fields(target)
    _check_length("target type", target_type, _MAX_TARGET_TYPE)
    _check_length("target id", target_id, _MAX_TARGET_ID)
    draft = _Draft(
        tenant=tenant,
        action=action,
        actor_id=actor.id if actor is not None else None,
        actor_email=_scrub(actor.email) if actor is not None else "",
        target_type=_scrub(target_type),
        target_id=_scrub(target_id),
        ip=normalize_ip(ip),
        data=_normalize_data(data),
    )
    # Outside any transaction a plain write commits at once: durable already.
    event = _record_durably(draft) if durable and connection.in_atomic_block else _record(draft)
    _log(draft, event)
    return event


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
    (`ignore_conflicts`) lets the loser wait for the winner's commit and then
    find the row, instead of failing with an IntegrityError mid-transaction.
    """
    head = AuditHead.objects.select_for_update().filter(stream=stream).first()
    if head is None:
        AuditHead.objects.bulk_create([AuditHead(stream=stream, count=0, last_hash="")], ignore_conflicts=True)
        head = AuditHead.objects.select_for_update().get(stream=stream)
    return head


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


def _record_durably(draft: _Draft) -> AnyAuditEvent:
    """Write `draft` over a second connection so it commits whatever the caller does next."""
    if not _second_connection_usable():
        return _record(draft)
    outcome: list[AnyAuditEvent] = []
    failure: list[Exception] = []
    worker_pid: list[int] = []

    def write() -> None:
        try:
            _prepare_second_connection(worker_pid)
            outcome.append(_record(draft))
        except Exception as exc:  # noqa: BLE001 - handed to the caller's thread below, never swallowed
            failure.append(exc)
        finally:
            # This thread's connections die with it; close them rather than leak
            # one per durable event (CONN_MAX_AGE would otherwise keep them).
            connections.close_all()

    worker = threading.Thread(target=write, name="atrium-audit-durable", daemon=True)
    worker.start()
    _join_breaking_self_deadlock(worker, worker_pid)
    if outcome:
        return outcome[0]
    if failure and not isinstance(failure[0], DatabaseError):
        raise failure[0]  # a bug, not a second-connection problem: the fallback would fail alike
    logger.warning(
        "audit.durable_fallback",
        extra={"audit_action": draft.action, "error": repr(failure[0]) if failure else "no result"},
    )
    return _record(draft)


_warned_sqlite = False


def _second_connection_usable() -> bool:
    """Whether a second connection can commit while the caller's transaction is open.

    PostgreSQL: always. SQLite in IMMEDIATE transaction mode (Atrium's setting for
    the embedded default): never, the caller already holds the one write lock.
    Otherwise SQLite has a single writer: Django's shared-cache in-memory
    test database and WAL-mode files let another connection commit while this one
    holds a read transaction; a rollback-journal file does not (the commit waits
    for every reader), so there the event goes into the caller's transaction and
    the limitation is logged once. Durable audit needs PostgreSQL or WAL. (Under
    WAL a caller that goes on to write after a durable event may meet
    SQLITE_BUSY, its snapshot being older than the audit commit: SQLite is the
    development default only.)
    """
    global _warned_sqlite  # one warning per process, not one per failed login
    if connection.vendor != "sqlite":
        return True
    if str(connection.settings_dict.get("OPTIONS", {}).get("transaction_mode", "")).upper() == "IMMEDIATE":
        # The caller's transaction took SQLite's one write lock at BEGIN: no second writer can commit.
        if not _warned_sqlite:
            _warned_sqlite = True
            logger.warning("audit.durable_unavailable", extra={"reason": "SQLite: one writer at a time"})
        return False
    name = str(connection.settings_dict["NAME"])
    if "mode=memory" in name and "cache=shared" in name:
        return True
    if name != ":memory:" and "mode=memory" not in name:  # a private in-memory database has no second door
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode")
            row = cursor.fetchone()
        if row is not None and str(row[0]).lower() == "wal":
            return True
    if not _warned_sqlite:
        _warned_sqlite = True
        logger.warning("audit.durable_unavailable", extra={"reason": "SQLite without WAL: one connection at a time"})
    return False


def _prepare_second_connection(worker_pid: list[int]) -> None:
    """Cap the second connection's lock waits, and tell the caller which backend it is.

    The caller is blocked joining this thread, so a lock the caller holds would
    never be released: on PostgreSQL the caller watches for exactly that (see
    `_join_breaking_self_deadlock`); the lock timeout is the backstop for longer
    chains of waits, SQLite's busy timeout the only guard there.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Session-level, on a connection that is closed right after the write.
            cursor.execute(
                "SELECT set_config('lock_timeout', %s, false), pg_backend_pid()", [f"{DURABLE_LOCK_TIMEOUT_MS}ms"]
            )
            row = cursor.fetchone()
            assert row is not None
            worker_pid.append(int(row[1]))
        elif connection.vendor == "sqlite":
            cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_MS)}")


def _join_breaking_self_deadlock(worker: threading.Thread, worker_pid: list[int]) -> None:
    """Wait for the worker; cancel its statement if it is waiting on a lock this connection holds.

    That happens when the caller's transaction already wrote to the same stream
    (its head row is locked until the caller commits) or holds rows the event
    needs (a tenant created but not yet committed, a test's transaction). It can
    never resolve, so rather than wait for the lock timeout the worker is
    cancelled at once and the event falls back to the caller's transaction.
    """
    while True:
        worker.join(_DEADLOCK_POLL_SECONDS)
        if not worker.is_alive():
            return
        if not worker_pid:
            continue
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid() = ANY(pg_blocking_pids(%s))", [worker_pid[0]])
            row = cursor.fetchone()
            if row is not None and row[0]:
                cursor.execute("SELECT pg_cancel_backend(%s)", [worker_pid[0]])
                worker.join()
                return


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


# --------------------------------------------------------------------------- a user's account events


def audit_record_user_event(
    *,
    user: User,
    action: str,
    ip: str | None = None,
    data: Mapping[str, Any] | None = None,
    tenant: Tenant | None = None,
    durable: bool = False,
) -> list[AnyAuditEvent]:
    """Record an event of `user`'s own account in the platform stream and in each of their tenants' streams.

    The user is both actor and target (`("user", id)`). The tenants are those
    of the user's active memberships (see the module docstring) plus `tenant`,
    the acting session's tenant, if given. `data` is redacted before it is
    stored: a password, token, code or secret put there by mistake is never
    written. Returns the events written, the platform one first.

    Callers: MFA enrolment, disabling, new backup codes and the MFA lock
    (`services/mfa.py`); password reset and change (`services/accounts.py`).
    `durable` is as for `audit_record`, applied to every copy.
    """
    clean = audit_data_redacted(action=action, data=_normalize_data(data))
    tenants = {t.id: t for t in user_audit_tenants(user=user)}
    if tenant is not None and tenant.status != Tenant.Status.OFFBOARDED:
        tenants.setdefault(tenant.id, tenant)
    events = [audit_record(actor=user, action=action, target=("user", user.id), ip=ip, data=clean, durable=durable)]
    for tenant_id in sorted(tenants, key=str):
        events.append(
            audit_record(
                tenant=tenants[tenant_id],
                actor=user,
                action=action,
                target=("user", user.id),
                ip=ip,
                data=clean,
                durable=durable,
            )
        )
    return events


# --------------------------------------------------------------------------- redaction

REDACTED: Final = "[REDACTED]"
# A key is split into words (`backup_codes`, `backupCode` → backup, code); any of these words marks a credential.
_SECRET_WORDS: Final = frozenset(
    {
        "password",
        "passwd",
        "passphrase",
        "pwd",
        "token",
        "secret",
        "key",
        "apikey",
        "code",
        "otp",
        "totp",
        "pin",
        "hash",
        "salt",
        "signature",
        "cookie",
        "authorization",
        "csrf",
        "credential",
        "credentials",
    }
)
# ... and these anywhere in a word (`newpassword`, `accesstoken`, `clientsecret`).
_SECRET_FRAGMENTS: Final = ("password", "passwd", "secret", "token", "apikey", "credential")
# Top-level keys that look like a credential but are not one in these actions: a role's `code` is its slug.
_PUBLIC_KEYS: Final = {"role.": frozenset({"code"})}
_CAMEL: Final = re.compile(r"([a-z0-9])([A-Z])")
_NON_WORD: Final = re.compile(r"[^a-z0-9]+")


def _secret_key(key: str) -> bool:
    lowered = _CAMEL.sub(r"\1_\2", key).lower()
    words = {w for w in _NON_WORD.split(lowered) if w}
    # Plurals too: `backup_codes`, `keys`, `hashes`.
    words |= {w[:-1] for w in words if w.endswith("s")} | {w[:-2] for w in words if w.endswith("es")}
    return bool(words & _SECRET_WORDS) or any(fragment in lowered for fragment in _SECRET_FRAGMENTS)


def _redact_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): REDACTED if _secret_key(str(k)) else _redact_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_value(v) for v in value]
    if isinstance(value, str):
        # Free text (an admin's `reason`) can still carry `password: …`, a bearer token or a JWT.
        return redact_text(value, ())
    return value


def audit_data_redacted(*, action: str, data: Mapping[str, Any] | None) -> dict[str, Any]:
    """`data` as a tenant's auditors may see it: every value under a credential-looking key replaced.

    Key-based, at any depth: a key with a word such as password, token, code,
    secret, key, otp or hash (`new_password`, `accessToken`, `backup_code`,
    `api_key`) is `[REDACTED]` whatever its value; bearer tokens, JWTs and
    `password=…` pairs inside free-text values are cut out too. Ordinary keys
    (`portal`, `role`, `reason`, `scope`, `count`, `method`) come out as
    stored. The one exception is named: `code` in `role.*` events, a role's
    public code.
    """
    if not data:
        return {}
    public = next((keys for prefix, keys in _PUBLIC_KEYS.items() if action.startswith(prefix)), frozenset())
    return {
        str(k): v
        if str(k) in public and isinstance(v, str)
        else (REDACTED if _secret_key(str(k)) else _redact_value(v))
        for k, v in data.items()
    }


# --------------------------------------------------------------------------- reading


def audit_event_list(*, tenant: TenantLike) -> QuerySet[AuditEvent]:
    """The current tenant's events, newest first (the order of the tenant/created index).

    Call inside `tenant`'s context: the scoped manager raises without one, and
    the explicit filter refuses to return another tenant's rows if the two differ.
    """
    return AuditEvent.objects.filter(tenant_id=tenant.id).order_by("-created_at", "-seq")


# --------------------------------------------------------------------------- verifying


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
