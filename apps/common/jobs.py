"""RQ jobs that carry their tenant: the `@tenant_job` decorator (registered in `apps.common.job_registry`).

A job is a module-level function of keyword arguments that are JSON-serialisable
(ids and strings, never model instances: the row may change before the job
runs). Decorating it registers it by dotted path:

    @tenant_job(queue="mail")
    def invitation_send_job(*, tenant: Tenant, invitation_id: str) -> None: ...

    invitation_send_job.defer(invitation_id=str(invitation.id))

`defer()` writes an outbox row in the caller's transaction (see
`apps.common.outbox`), recording the current tenant (or the `tenant=` passed
explicitly); the worker runs the function inside
`tenant_context(load_tenant(tenant_id))`, or `tenant_context(None)` when no
tenant was recorded. A function with a `tenant` parameter receives the loaded
tenant. UUIDs and datetimes in the kwargs arrive as strings.

A job that raises is retried with the back-off of `settings.ATRIUM_JOB_RETRY_INTERVALS`
(`DEFAULT_RETRY`; a job's own `retry=` wins), then stays in RQ's failed registry
with its exception. Below the decorator, the operator's side: what
`manage.py jobs_status` shows and `jobs_retry` requeues, the recovery of jobs
whose worker died (periodic, `config/cron.py`), and the queue gauges and run
counters of `/metrics` (`JobsCollector`, computed at scrape time).
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, ParamSpec

from django.conf import settings
from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from rq import Retry
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import DeferredJobRegistry, FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from apps.common.job_registry import job_register
from apps.common.models import OutboxMessage
from apps.common.outbox import RUNS_KEY, count_job_run, outbox_enqueue, rq_queue
from apps.common.tenancy import TenantLike, current_tenant_id, load_tenant, tenant_context

logger = logging.getLogger("atrium.jobs")

P = ParamSpec("P")


class SettingsRetry(Retry):
    """RQ's `Retry`, read from settings each time a job is relayed: one retry per `ATRIUM_JOB_RETRY_INTERVALS` value."""

    def __init__(self) -> None:
        self.enqueue_at_front = False

    @property
    def intervals(self) -> list[int]:  # type: ignore[override]
        return list(settings.ATRIUM_JOB_RETRY_INTERVALS)

    @property
    def max(self) -> int:  # type: ignore[override]
        return len(settings.ATRIUM_JOB_RETRY_INTERVALS)

    def __repr__(self) -> str:
        return f"SettingsRetry(max={self.max}, interval={self.intervals!r})"


DEFAULT_RETRY: Retry = SettingsRetry()

_UNSET: Any = object()


class TenantJob(Generic[P]):
    """A registered job: call it directly, or `defer(**kwargs)` it through the outbox."""

    def __init__(self, fn: Callable[P, object], *, queue: str, retry: Retry | None) -> None:
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.path = f"{fn.__module__}.{fn.__qualname__}"
        self.queue = queue
        self.retry = retry
        self.takes_tenant = "tenant" in inspect.signature(fn).parameters

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> object:
        """Run now, in the caller's context (tests, or a job calling another inline)."""
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<TenantJob {self.path} queue={self.queue}>"

    def defer(self, **kwargs: Any) -> OutboxMessage:
        """Promise this job in the caller's transaction; it runs only if that transaction commits.

        `tenant=` overrides the tenant recorded (default: the current one;
        `tenant=None` records none).
        """
        tenant: TenantLike | None = kwargs.pop("tenant", _UNSET)
        tenant_id = current_tenant_id() if tenant is _UNSET else (tenant.id if tenant is not None else None)
        return outbox_enqueue(job_path=self.path, kwargs=kwargs, queue=self.queue, tenant_id=tenant_id)

    def run(self, *, tenant_id: Any | None, kwargs: Mapping[str, Any]) -> None:
        """Run as the worker does: inside the recorded tenant's context (none → no tenant)."""
        tenant = load_tenant(tenant_id) if tenant_id is not None else None
        call_kwargs = dict(kwargs)
        if self.takes_tenant:
            call_kwargs["tenant"] = tenant
        with tenant_context(tenant):
            self.fn(**call_kwargs)  # type: ignore[call-arg]


def tenant_job(
    *, queue: str = "default", retry: Retry | None = DEFAULT_RETRY
) -> Callable[[Callable[P, object]], TenantJob[P]]:
    """Register a function as an RQ job that runs in the tenant context it was deferred in."""

    def register(fn: Callable[P, object]) -> TenantJob[P]:
        job = TenantJob(fn, queue=queue, retry=retry)
        job_register(job)
        return job

    return register


# --- The operator's side: jobs_status, jobs_retry, abandoned jobs, /metrics ---------------------------------


class UnknownFailedJob(LookupError):
    """No failed job by that id on any queue: never failed, already requeued, or expired from the registry."""


@dataclass(frozen=True)
class QueueStats:
    name: str
    queued: int
    started: int
    scheduled: int  # waiting for a time: retries with back-off (run by a worker `--with-scheduler`)
    deferred: int  # waiting for another job
    failed: int
    oldest_queued_age: float | None  # seconds the job at the head of the queue has waited


@dataclass(frozen=True)
class FailedJob:
    id: str
    queue: str
    job: str  # the tenant job's dotted path (the RQ job's description)
    failed_at: datetime | None
    error: str  # the exception's last line; the whole traceback stays in RQ's result


@dataclass(frozen=True)
class OutboxBacklog:
    pending: int  # committed, not yet handed to RQ (Redis was down at commit): the sweep relays them
    oldest_pending_age: float | None
    failed: int  # rows whose last run raised (RQ may still be retrying them)


def queue_names() -> list[str]:
    return list(settings.RQ_QUEUES)


def queue_stats(name: str) -> QueueStats:
    """One queue's sizes, read as they are (no registry cleanup). Raises RedisError when Redis is down."""
    queue = rq_queue(name)
    oldest: float | None = None
    head = queue.get_job_ids(0, 1)
    job = queue.fetch_job(head[0]) if head else None
    if job is not None and job.enqueued_at is not None:
        oldest = _age(job.enqueued_at)
    return QueueStats(
        name=name,
        queued=queue.count,
        started=StartedJobRegistry(queue=queue).get_job_count(cleanup=False),
        scheduled=ScheduledJobRegistry(queue=queue).get_job_count(cleanup=False),
        deferred=DeferredJobRegistry(queue=queue).get_job_count(cleanup=False),
        failed=FailedJobRegistry(queue=queue).get_job_count(cleanup=False),
        oldest_queued_age=oldest,
    )


def recover_abandoned_jobs(*, at: float | None = None) -> list[str]:
    """Hand back jobs whose worker died mid-run; returns their ids. Periodic (`config/cron.py`).

    A running job's worker renews its claim (RQ's started registry) with a
    heartbeat; a claim not renewed by `at` (default now: about 90 s after the
    worker died) is abandoned. RQ retries it if it has retries left, else keeps it
    in the failed registry (`AbandonedJobError`) for `jobs_retry`. The outbox row
    of a killed run is untouched (its transaction rolled back), so the rerun
    does the work once.
    """
    recovered: list[str] = []
    for name in queue_names():
        queue = rq_queue(name)
        registry = StartedJobRegistry(queue=queue)
        expired = registry.get_expired_job_ids(at)
        if not expired:
            continue
        abandoned = [
            job
            for job in Job.fetch_many(expired, connection=queue.connection)
            if job is not None and job.get_status(refresh=False) == JobStatus.STARTED
        ]
        registry.cleanup(timestamp=at)
        for job in abandoned:
            path = _job_path(job)
            logger.warning("jobs.abandoned", extra={"job_id": job.id, "queue": name, "job_path": path})
            count_job_run(queue.connection, queue=name, job_path=path, outcome="abandoned")
            recovered.append(job.id)
    return recovered


def failed_jobs(*, limit: int | None = None) -> list[FailedJob]:
    """The failed jobs of every queue, the most recent first (`limit` of them per queue and in all)."""
    found: list[FailedJob] = []
    for name in queue_names():
        queue = rq_queue(name)
        ids = FailedJobRegistry(queue=queue).get_job_ids(
            0, -1 if limit is None else limit - 1, desc=True, cleanup=False
        )
        found += [_failed(job, name) for job in Job.fetch_many(ids, connection=queue.connection) if job is not None]
    oldest = datetime.min.replace(tzinfo=UTC)
    found.sort(key=lambda failed: failed.failed_at or oldest, reverse=True)
    return found if limit is None else found[:limit]


def requeue_failed_job(job_id: str) -> FailedJob:
    """Put one failed job back on its queue (RQ's requeue: it leaves the failed registry, so it runs once)."""
    for name in queue_names():
        queue = rq_queue(name)
        registry = FailedJobRegistry(queue=queue)
        if job_id not in registry:
            continue
        job = queue.fetch_job(job_id)
        if job is None:  # its data expired; only the registry entry is left
            registry.remove(job_id)
            raise UnknownFailedJob(f"Failed job {job_id} has expired from Redis; nothing is left to rerun.")
        failed = _failed(job, name)
        try:
            registry.requeue(job)
        except InvalidJobOperation as exc:  # another jobs_retry took it first
            raise UnknownFailedJob(f"Failed job {job_id} was requeued meanwhile.") from exc
        logger.info("jobs.requeued", extra={"job_id": job_id, "queue": name, "job_path": failed.job})
        return failed
    raise UnknownFailedJob(f"No failed job {job_id} on the queues {', '.join(queue_names())}.")


def requeue_all_failed_jobs() -> list[FailedJob]:
    """Requeue every failed job of every queue; returns what was requeued."""
    requeued: list[FailedJob] = []
    for name in queue_names():
        for job_id in FailedJobRegistry(queue=rq_queue(name)).get_job_ids(cleanup=False):
            try:
                requeued.append(requeue_failed_job(job_id))
            except (UnknownFailedJob, NoSuchJobError) as exc:
                logger.warning("jobs.requeue_skipped", extra={"job_id": job_id, "error": str(exc)})
    return requeued


def outbox_backlog() -> OutboxBacklog:
    Status = OutboxMessage.Status
    pending = OutboxMessage.objects.filter(status=Status.PENDING).aggregate(n=Count("id"), oldest=Min("created_at"))
    return OutboxBacklog(
        pending=pending["n"],
        oldest_pending_age=_age(pending["oldest"]) if pending["oldest"] else None,
        failed=OutboxMessage.objects.filter(status=Status.FAILED).count(),
    )


def _failed(job: Job, queue: str) -> FailedJob:
    result = job.latest_result()
    error = (result.exc_string if result is not None else None) or ""
    lines = [line for line in error.strip().splitlines() if line.strip()]
    return FailedJob(
        id=job.id,
        queue=queue,
        job=_job_path(job),
        failed_at=result.created_at if result is not None else job.ended_at,
        error=lines[-1].strip() if lines else "",
    )


def _job_path(job: Job) -> str:
    """The tenant job's path, which the relay stores as the RQ job's description."""
    return str(job.description or job.func_name)


def _age(moment: datetime) -> float:
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)  # RQ's times are UTC
    return max(0.0, (timezone.now() - moment).total_seconds())


class JobsCollector:
    """Queue gauges, job run counters and the outbox backlog, read at scrape time (not pushed by any process).

    Read from Redis and the database, they are the same whichever worker
    answers the scrape, and count every RQ worker's runs (which no web
    worker's multiprocess files would). A Redis or database outage drops
    those families and sets `atrium_jobs_redis_up` to 0; it never fails the scrape.
    """

    def collect(self) -> Iterator[Metric]:
        yield from self._queues()
        yield from self._outbox()

    def _queues(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("atrium_jobs_redis_up", "1 when the job queues' Redis answered this scrape, else 0.")
        sizes = {
            field: GaugeMetricFamily(f"atrium_jobs_{field}", f"Jobs {field} per queue.", labels=["queue"])
            for field in ("queued", "started", "scheduled", "deferred", "failed")
        }
        oldest = GaugeMetricFamily(
            "atrium_jobs_oldest_queued_age_seconds",
            "How long the job at the head of each queue has waited (0 when empty).",
            labels=["queue"],
        )
        runs = CounterMetricFamily(
            "atrium_job_runs",
            "Runs of tenant jobs by outcome: succeeded, retried (failed, RQ runs it again), failed, abandoned.",
            labels=["queue", "job", "outcome"],
        )
        try:
            for name in queue_names():
                stats = queue_stats(name)
                for field, family in sizes.items():
                    family.add_metric([name], getattr(stats, field))
                oldest.add_metric([name], stats.oldest_queued_age or 0.0)
                counted = rq_queue(name).connection.hgetall(RUNS_KEY.format(queue=name))
                for key, value in sorted(counted.items()):
                    field = key.decode() if isinstance(key, bytes) else str(key)
                    outcome, _, path = field.partition(":")
                    runs.add_metric([name, path, outcome], int(value))
        except Exception as exc:  # noqa: BLE001 - one source down never fails the scrape
            logger.warning("jobs.metrics_redis_down", extra={"error": repr(exc)})
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield from [up, *sizes.values(), oldest, runs]

    def _outbox(self) -> Iterator[Metric]:
        try:
            backlog = outbox_backlog()
        except Exception as exc:  # noqa: BLE001 - the database down (or out of reach) never fails the scrape
            logger.warning("jobs.metrics_database_down", extra={"error": repr(exc)})
            return
        pending = GaugeMetricFamily("atrium_outbox_pending", "Outbox messages not yet handed to RQ.")
        pending.add_metric([], backlog.pending)
        age = GaugeMetricFamily(
            "atrium_outbox_oldest_pending_age_seconds", "Age of the oldest pending outbox message (0 when none)."
        )
        age.add_metric([], backlog.oldest_pending_age or 0.0)
        yield from [pending, age]


# Exported beside prometheus_client's registry by `/metrics` (apps.common.views).
JOBS_METRICS = CollectorRegistry(auto_describe=False)
JOBS_METRICS.register(JobsCollector())


def redis_unreachable(exc: BaseException) -> str:
    """What an operator command says when the queues' Redis does not answer: where it looked, what to do."""
    url = str(next(iter(settings.RQ_QUEUES.values()), {}).get("URL", "")) or "(no URL)"
    scheme, _, rest = url.partition("://")
    location = f"{scheme}://{rest.rpartition('@')[2]}" if rest else url  # never print a password
    return (
        f"Redis at {location} is unreachable ({type(exc).__name__}: {exc}). Start Redis or fix REDIS_URL, then run "
        "this again. Nothing is lost meanwhile: deferred jobs wait in the outbox and the sweep relays them."
    )
