"""The durable writer: an audit event that commits even when the caller's transaction rolls back.

The audit of a failed login or a lockout is written just before the request
answers 401/429, and `ATOMIC_REQUESTS` then rolls everything back
(docs/security.md, trap 18). Neither database has autonomous transactions, so
the event goes over a second connection that commits on its own — a
short-lived thread, since Django gives each thread its own connection. What
makes that delicate lives here: whether a second connection can commit at all
(SQLite), capping its lock waits, and breaking the one wait that can never end
— on a lock the blocked caller itself holds. Any failure falls back to the
caller's transaction: late is better than lost.
"""

from __future__ import annotations

import logging
import threading
from typing import Final

from django.db import DatabaseError, connection, connections

from apps.identity.services.audit.append import _record
from apps.identity.services.audit.chain import AnyAuditEvent
from apps.identity.services.audit.draft import _Draft

logger = logging.getLogger("atrium.audit")

# How long a durable write waits for a row lock held elsewhere before it gives up
# and falls back to the caller's transaction (see `_record_durably`). Long enough
# to ride out ordinary head contention; a wait on the caller itself is detected
# and broken at once, so this only bounds longer chains of waits.
DURABLE_LOCK_TIMEOUT_MS: Final = 5000
# SQLite (development only): its one writer makes a wait on the caller likely.
SQLITE_BUSY_TIMEOUT_MS: Final = 1000
_DEADLOCK_POLL_SECONDS: Final = 0.05


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
