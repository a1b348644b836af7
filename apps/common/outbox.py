"""The transactional outbox: work a committed write promises is never lost.

`outbox_enqueue` (what `TenantJob.defer` calls) writes an `OutboxMessage` row in
the caller's transaction and relays it to RQ after commit. A rolled-back
transaction leaves no row, so nothing runs. If Redis is down at commit, the row
stays `pending` and `outbox_sweep` (periodic, `config/cron.py`) relays it later.

Delivery is at least once; running a message is idempotent: `outbox_run` locks
the row and skips it once done, and the RQ job id is derived from the message
id, so relaying twice does not queue the job twice.

Without `REDIS_URL` the queues are synchronous (fakeredis): the relay runs the
job inline, right after commit. A failing inline job is recorded on its row and
does not reach the caller, whose transaction has already committed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import traceback
from collections.abc import Mapping
from datetime import timedelta
from functools import partial
from typing import Any
from uuid import UUID

import django_rq
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.core.signals import setting_changed
from django.db import connection, transaction
from django.db.models import QuerySet
from django.dispatch import receiver
from django.utils import timezone
from redis import Redis
from redis.exceptions import RedisError
from rq.exceptions import DuplicateJobError
from rq.job import Job, get_current_job
from rq.queue import Queue

from apps.common.job_registry import UnknownJob, resolve_job
from apps.common.models import OutboxMessage

logger = logging.getLogger("atrium.outbox")

Status = OutboxMessage.Status

# The after-commit relay normally wins; the sweep waits this long so it does not race it.
SWEEP_MIN_AGE = timedelta(seconds=5)
# A relayed message whose RQ job vanished (Redis lost its data) is relayed again after this.
STALE_RELAYED_AFTER = timedelta(minutes=15)
SWEEP_BATCH = 200
DONE_RETENTION = timedelta(days=14)
_ERROR_MAX_CHARS = 4000
# Runs of each job by outcome, counted in Redis so every worker process and host adds to one hash, which
# `/metrics` reads at scrape time (`apps.common.jobs.JobsCollector`). Fields are "<outcome>:<job path>".
RUNS_KEY = "atrium:jobs:runs:{queue}"


def outbox_job_id(message_id: UUID | str) -> str:
    """The RQ job id of a message: the same on every relay, so Redis holds it once."""
    return f"outbox-{message_id}"


def outbox_enqueue(
    *, job_path: str, kwargs: Mapping[str, Any], queue: str = "default", tenant_id: Any | None = None
) -> OutboxMessage:
    """Write a message in the caller's transaction and relay it to RQ once that commits."""
    if queue not in settings.RQ_QUEUES:
        raise ValueError(f"Unknown RQ queue {queue!r}; configured: {sorted(settings.RQ_QUEUES)}")
    try:
        # Round-trip now so the caller learns of a model instance here, not in the worker.
        payload = json.loads(json.dumps(dict(kwargs), cls=DjangoJSONEncoder))
    except TypeError as exc:
        raise TypeError(f"Job kwargs must be JSON-serialisable (pass ids, not model instances): {exc}") from exc
    message = OutboxMessage.objects.create(job_path=job_path, kwargs=payload, queue=queue, tenant_id=tenant_id)
    # robust: a relay problem after commit is logged, never raised into the committed request.
    transaction.on_commit(partial(outbox_relay, message), robust=True)
    return message


def outbox_relay(message: OutboxMessage) -> bool:
    """Hand one message to RQ. False when it could not be: Redis down (the row stays for the sweep)."""
    try:
        return _relay(message)
    except RedisError as exc:
        logger.warning(
            "outbox.relay_failed",
            extra={"message_id": str(message.id), "job_path": message.job_path, "error": repr(exc)},
        )
        return False


def _relay(message: OutboxMessage, queues: dict[str, Queue] | None = None) -> bool:
    """Enqueue the message's RQ job; raises RedisError when Redis is unreachable.

    `queues` lets a sweep reuse one client per queue instead of one per message.
    """
    try:
        job = resolve_job(message.job_path)
    except UnknownJob:
        logger.error("outbox.unknown_job", extra={"message_id": str(message.id), "job_path": message.job_path})
        _record_failure(message.id, f"UnknownJob: {message.job_path}")
        return False
    queue = _queue(message.queue, {} if queues is None else queues)
    # A duplicate is already on a queue (or finished recently): nothing to add.
    with contextlib.suppress(DuplicateJobError):
        queue.enqueue_call(
            func=outbox_run,
            kwargs={"message_id": str(message.id)},
            job_id=outbox_job_id(message.id),
            retry=job.retry,
            description=message.job_path,
            # Atomic check-and-enqueue on Redis; the synchronous embedded queue has no Lua to run it.
            unique=queue.is_async,
        )
    # The job may already have run (inline, or a fast worker): never downgrade done/failed.
    OutboxMessage.objects.filter(id=message.id, status__in=[Status.PENDING, Status.RELAYED]).update(
        status=Status.RELAYED, relayed_at=timezone.now()
    )
    return True


def outbox_run(*, message_id: str) -> None:
    """The RQ job behind every message: idempotent, safe to run again after a crash or double relay.

    Errors are recorded on the row and re-raised, so RQ's retry and failed
    registry apply.
    """
    failure: Exception | None = None
    with transaction.atomic():
        # The lock makes a concurrent second run wait, then see `done` and skip.
        message = OutboxMessage.objects.select_for_update().filter(id=message_id).first()
        if message is None:
            logger.warning("outbox.message_missing", extra={"message_id": message_id})
            return
        if message.status == Status.DONE:
            logger.info("outbox.already_done", extra={"message_id": message_id, "job_path": message.job_path})
            return
        message.attempts += 1
        message.relayed_at = message.relayed_at or timezone.now()
        try:
            job = resolve_job(message.job_path)
            # Savepoint: a failed job's own writes roll back; the row's record of the failure stays.
            with transaction.atomic():
                job.run(tenant_id=message.tenant_id, kwargs=message.kwargs)
        except Exception as exc:  # noqa: BLE001 - recorded, then re-raised below the commit
            failure = exc
            message.status = Status.FAILED
            message.last_error = _format_error(exc)
            logger.warning(
                "outbox.job_failed",
                extra={"message_id": message_id, "job_path": message.job_path, "attempts": message.attempts},
            )
        else:
            message.status = Status.DONE
            message.done_at = timezone.now()
            message.last_error = ""
        message.save(update_fields=["status", "attempts", "relayed_at", "done_at", "last_error", "updated_at"])
    _count_run(message, "succeeded" if failure is None else _failure_outcome(message.queue))
    if failure is not None:
        raise failure


def count_job_run(connection: Redis, *, queue: str, job_path: str, outcome: str) -> None:
    """Add one run to the job's outcome counter (succeeded, retried, failed, abandoned); never raises."""
    try:
        connection.hincrby(RUNS_KEY.format(queue=queue), f"{outcome}:{job_path}", 1)
    except RedisError as exc:
        logger.warning("jobs.count_failed", extra={"job_path": job_path, "outcome": outcome, "error": repr(exc)})


def _count_run(message: OutboxMessage, outcome: str) -> None:
    current = get_current_job()  # in a worker: its connection, already open
    connection = current.connection if current is not None else _queue(message.queue, {}).connection
    count_job_run(connection, queue=message.queue, job_path=message.job_path, outcome=outcome)


def _failure_outcome(queue: str) -> str:
    """`retried` when RQ will run the job again (a worker, retries left), else `failed`."""
    current = get_current_job()
    inline = not settings.RQ_QUEUES.get(queue, {}).get("ASYNC", True)  # the embedded queues never retry
    return "retried" if current is not None and current.retries_left and not inline else "failed"


def outbox_sweep(
    *,
    batch_size: int = SWEEP_BATCH,
    min_age_seconds: float = SWEEP_MIN_AGE.total_seconds(),
    stale_after_seconds: float = STALE_RELAYED_AFTER.total_seconds(),
) -> int:
    """Periodic operator job: relay what the after-commit relay could not. Returns how many were relayed.

    Pending rows older than `min_age_seconds` are relayed; so are rows relayed
    longer than `stale_after_seconds` ago whose RQ job no longer exists (Redis
    lost its data before they ran). Runs across tenants: the outbox is global.
    """
    now = timezone.now()
    pending = OutboxMessage.objects.filter(
        status=Status.PENDING, created_at__lte=now - timedelta(seconds=min_age_seconds)
    )
    stale = OutboxMessage.objects.filter(
        status=Status.RELAYED, relayed_at__lte=now - timedelta(seconds=stale_after_seconds)
    )
    relayed = 0
    queues: dict[str, Queue] = {}
    with transaction.atomic():
        try:
            for message in _lock(pending).order_by("created_at")[:batch_size]:
                relayed += _relay(message, queues)
            for message in _lock(stale).order_by("relayed_at")[:batch_size]:
                job_id = outbox_job_id(message.id)
                if not Job.exists(job_id, connection=_queue(message.queue, queues).connection):
                    logger.warning("outbox.relay_lost", extra={"message_id": str(message.id), "job_id": job_id})
                    relayed += _relay(message, queues)
        except RedisError as exc:
            # Stop at the first failure (the next sweep retries); what was relayed so far commits.
            logger.warning("outbox.sweep_redis_down", extra={"relayed": relayed, "error": repr(exc)})
    if relayed:
        logger.info("outbox.swept", extra={"relayed": relayed})
    return relayed


def outbox_purge(*, older_than_days: float = DONE_RETENTION.days, batch_size: int = 1000) -> int:
    """Periodic operator job: delete done messages past retention. Returns how many were deleted."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    ids = list(
        OutboxMessage.objects.filter(status=Status.DONE, done_at__lt=cutoff).values_list("id", flat=True)[:batch_size]
    )
    deleted, _ = OutboxMessage.objects.filter(id__in=ids).delete()
    return deleted


# One RQ queue (and its Redis connection pool) per queue name and process: a relay after each commit
# would otherwise build a new client and connect again (~9 ms of `create_tenant`). Keyed by the pid so
# a forked worker never shares its parent's sockets; forgotten when a test changes `RQ_QUEUES`.
_process_queues: dict[tuple[int, str], Queue] = {}


@receiver(setting_changed)
def _forget_queues(*, setting: str, **kwargs: Any) -> None:
    if setting == "RQ_QUEUES":
        _process_queues.clear()


def rq_queue(name: str) -> Queue:
    """This process's RQ queue `name` (one client per process, as the relay uses)."""
    return _queue(name, {})


def _queue(name: str, queues: dict[str, Queue]) -> Queue:
    if name not in queues:
        key = (os.getpid(), name)
        queue = _process_queues.get(key)
        if queue is None:
            # commit_mode="auto": django-rq would otherwise defer the enqueue to on_commit and hide a failure.
            queue = _process_queues[key] = django_rq.get_queue(name, commit_mode="auto")
        queues[name] = queue
    return queues[name]


def _lock(rows: QuerySet[OutboxMessage]) -> QuerySet[OutboxMessage]:
    # Two sweepers (or a sweep and a slow relay) must not both take a row; SQLite has no row locks.
    if connection.features.has_select_for_update_skip_locked:
        return rows.select_for_update(skip_locked=True)
    return rows.select_for_update()


def _record_failure(message_id: UUID, error: str) -> None:
    OutboxMessage.objects.filter(id=message_id).exclude(status=Status.DONE).update(
        status=Status.FAILED, last_error=error[-_ERROR_MAX_CHARS:], updated_at=timezone.now()
    )


def _format_error(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))[-_ERROR_MAX_CHARS:]
