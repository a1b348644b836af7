"""`manage.py jobs_retry JOB_ID | --all-failed`: rerun failed jobs (docs/runbooks/jobs.md).

RQ's requeue takes each job out of the failed registry and puts it back on its
queue once, so a job retried twice is queued once; the outbox row behind it
skips the work if an earlier run already finished it. An unknown id exits 1.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from redis.exceptions import RedisError

from apps.common.jobs import (
    FailedJob,
    UnknownFailedJob,
    redis_unreachable,
    requeue_all_failed_jobs,
    requeue_failed_job,
)


class Command(BaseCommand):
    help = "Puts failed jobs back on their queues: one by id, or every failed job with --all-failed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("job_id", nargs="?", help="The id `jobs_status` lists (outbox-<uuid>).")
        parser.add_argument("--all-failed", action="store_true", help="Requeue every failed job of every queue.")

    def handle(self, *args: Any, job_id: str | None, all_failed: bool, **options: Any) -> None:
        if bool(job_id) == all_failed:
            raise CommandError("Give one JOB_ID or --all-failed (see `manage.py jobs_status` for the failed jobs).")
        try:
            requeued: list[FailedJob] = requeue_all_failed_jobs() if all_failed else [requeue_failed_job(job_id or "")]
        except UnknownFailedJob as exc:
            raise CommandError(f"{exc} See `manage.py jobs_status` for the failed jobs.") from exc
        except RedisError as exc:
            raise CommandError(redis_unreachable(exc)) from exc
        for job in requeued:
            self.stdout.write(f"requeued {job.id} ({job.job}) on {job.queue}; it had failed with: {job.error}")
        self.stdout.write(f"{len(requeued)} job(s) requeued." if requeued else "No failed jobs to requeue.")
