"""`manage.py jobs_status [--json]`: the job queues at a glance (docs/runbooks/jobs.md).

Per queue: queued, started, scheduled (retries waiting out their back-off),
deferred and failed jobs, and how long the head of the queue has waited; the
most recent failed jobs with their error; the outbox backlog. Jobs whose worker
died mid-run are handed back first (`recover_abandoned_jobs`), so they show as
failed (or queued again), never as running forever. Exits 0; exits 1 with what
to do when Redis is unreachable.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from redis.exceptions import RedisError

from apps.common.jobs import (
    FailedJob,
    OutboxBacklog,
    QueueStats,
    failed_jobs,
    outbox_backlog,
    queue_names,
    queue_stats,
    recover_abandoned_jobs,
    redis_unreachable,
)

COLUMNS = ("queued", "started", "scheduled", "deferred", "failed")


class Command(BaseCommand):
    help = "Shows queue sizes, failed jobs, the oldest queued job's age and the outbox backlog."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print one JSON object.")
        parser.add_argument(
            "--limit", type=int, default=20, help="How many failed jobs to list, most recent first (default 20)."
        )

    def handle(self, *args: Any, as_json: bool, limit: int, **options: Any) -> None:
        try:
            recovered = recover_abandoned_jobs()
            queues = [queue_stats(name) for name in queue_names()]
            failed = failed_jobs(limit=max(limit, 0))
        except RedisError as exc:
            raise CommandError(redis_unreachable(exc)) from exc
        backlog = outbox_backlog()
        if as_json:
            self.stdout.write(json.dumps(_report(queues, failed, backlog, recovered), indent=2))
        else:
            self._table(queues, failed, backlog, recovered)

    def _table(
        self, queues: list[QueueStats], failed: list[FailedJob], backlog: OutboxBacklog, recovered: list[str]
    ) -> None:
        write = self.stdout.write
        if settings.RQ_EMBEDDED:
            write("Queues are embedded (no REDIS_URL): jobs run inline where they are deferred; nothing waits here.")
        write(f"{'queue':<12}" + "".join(f"{column:>11}" for column in COLUMNS) + f"{'oldest queued':>15}")
        for stats in queues:
            counts = "".join(f"{getattr(stats, column):>11}" for column in COLUMNS)
            write(f"{stats.name:<12}{counts}{_duration(stats.oldest_queued_age):>15}")
        if recovered:
            write(f"\nHanded back {len(recovered)} job(s) whose worker died mid-run: {', '.join(recovered)}")
        total_failed = sum(stats.failed for stats in queues)
        if failed:
            write(f"\nFailed jobs ({len(failed)} of {total_failed}, most recent first):")
            for job in failed:
                when = job.failed_at.strftime("%Y-%m-%d %H:%M:%S") if job.failed_at else "?"
                write(f"  {job.id}  {job.queue}  {job.job}  {when}  {job.error}")
            write("Rerun one with `manage.py jobs_retry JOB_ID`, or all with `manage.py jobs_retry --all-failed`.")
        else:
            write("\nNo failed jobs.")
        write(
            f"\nOutbox: {backlog.pending} pending (oldest {_duration(backlog.oldest_pending_age)}), "
            f"{backlog.failed} whose last run failed."
        )


def _report(
    queues: list[QueueStats], failed: list[FailedJob], backlog: OutboxBacklog, recovered: list[str]
) -> dict[str, Any]:
    return {
        "embedded": bool(settings.RQ_EMBEDDED),
        "queues": {
            stats.name: {
                **{column: getattr(stats, column) for column in COLUMNS},
                "oldest_queued_age_seconds": _seconds(stats.oldest_queued_age),
            }
            for stats in queues
        },
        "failed_jobs": [
            {**asdict(job), "failed_at": job.failed_at.isoformat() if job.failed_at else None} for job in failed
        ],
        "recovered_abandoned": recovered,
        "outbox": {
            "pending": backlog.pending,
            "oldest_pending_age_seconds": _seconds(backlog.oldest_pending_age),
            "failed": backlog.failed,
        },
    }


def _seconds(age: float | None) -> float | None:
    return None if age is None else round(age, 1)


def _duration(age: float | None) -> str:
    if age is None:
        return "-"
    seconds = int(age)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 2 * 3600:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
