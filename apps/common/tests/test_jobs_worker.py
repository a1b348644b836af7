"""Jobs on the CI Redis with a real `manage.py rqworker --burst` subprocess (issue acceptance: Jobs).

The tenant context is present inside the job; a failing job retries with the
configured back-off, then lands in the failed registry, and `jobs_status` shows
it; a worker killed mid-job leaves the job recoverable, and `jobs_retry` reruns
it once.
"""

from __future__ import annotations

import json
import time
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from apps.common.jobs import recover_abandoned_jobs
from apps.common.models import OutboxMessage
from apps.common.outbox import outbox_job_id, rq_queue
from apps.common.tenancy import tenant_context
from apps.common.tests.worker_jobs import (
    ATTEMPTS,
    DONE,
    HORSE,
    SEEN,
    SLEEP,
    STARTED,
    failing_worker_job,
    kill_worker,
    run_worker_process,
    sleepy_job,
    start_worker,
    tenant_probe_job,
    values,
    wait_for,
    worker_env,
)

pytest_plugins = ["apps.common.tests.jobs_fixtures"]

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

Status = OutboxMessage.Status


@pytest.fixture
def env(child_env, tmp_path, rq_redis) -> dict[str, str]:
    return worker_env(child_env, tmp_path)


def _status() -> dict[str, Any]:
    out = StringIO()
    call_command("jobs_status", "--json", stdout=out)
    return json.loads(out.getvalue())


def _retry(*args: str) -> str:
    out = StringIO()
    call_command("jobs_retry", *args, stdout=out)
    return out.getvalue()


def test_the_tenant_context_is_present_inside_the_job(env, tenant):
    with tenant_context(tenant):
        tenant_probe_job.defer(note="as acme")
    tenant_probe_job.defer(note="no tenant")

    run_worker_process(env)

    seen = [json.loads(value) for value in values(SEEN)]
    assert seen == [
        {"note": "as acme", "tenant": str(tenant.id), "context": str(tenant.id)},
        {"note": "no tenant", "tenant": None, "context": None},
    ]


def test_a_failing_job_retries_then_is_kept_failed_and_jobs_status_shows_it(env, settings, client):
    settings.ATRIUM_JOB_RETRY_INTERVALS = [0, 0]  # two retries, no wait
    with transaction.atomic():
        message = failing_worker_job.defer(note="always")
    job_id = outbox_job_id(message.id)

    run_worker_process(env)

    assert values(ATTEMPTS) == ["always"] * 3  # the run and two retries
    assert job_id in FailedJobRegistry(queue=rq_queue("default")).get_job_ids()
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Status.FAILED, 3)

    status = _status()
    assert status["queues"]["default"]["failed"] == 1
    assert status["queues"]["default"]["queued"] == 0
    [failed] = status["failed_jobs"]
    assert failed["id"] == job_id
    assert failed["job"] == failing_worker_job.path
    assert failed["error"] == "RuntimeError: boom in the worker: always"  # the exception is kept

    out = StringIO()
    call_command("jobs_status", stdout=out)
    assert job_id in out.getvalue()
    assert "RuntimeError: boom in the worker: always" in out.getvalue()

    # The worker's runs are counted where /metrics (this process) reads them.
    settings.METRICS_TOKEN, settings.DEBUG = "", True
    text = client.get("/metrics").content.decode()
    job = f'job="{failing_worker_job.path}"'
    assert f'atrium_job_runs_total{{{job},outcome="retried",queue="default"}} 2.0' in text
    assert f'atrium_job_runs_total{{{job},outcome="failed",queue="default"}} 1.0' in text
    assert 'atrium_jobs_failed{queue="default"} 1.0' in text

    # Retried by hand, it runs once more (and, still failing, goes back to the failed registry).
    assert f"requeued {job_id}" in _retry(job_id)
    run_worker_process(env)
    assert len(values(ATTEMPTS)) == 4
    assert _status()["queues"]["default"]["failed"] == 1


def test_a_retry_with_back_off_waits_for_the_scheduler(env, settings):
    settings.ATRIUM_JOB_RETRY_INTERVALS = [1]
    with transaction.atomic():
        message = failing_worker_job.defer(note="later")
    job_id = outbox_job_id(message.id)

    run_worker_process(env, "--with-scheduler")
    assert values(ATTEMPTS) == ["later"]
    assert job_id in ScheduledJobRegistry(queue=rq_queue("default")).get_job_ids()
    assert _status()["queues"]["default"]["scheduled"] == 1

    time.sleep(1.2)  # the back-off
    run_worker_process(env, "--with-scheduler")  # the scheduler enqueues the due retry, the worker runs it
    assert values(ATTEMPTS) == ["later", "later"]
    status = _status()["queues"]["default"]
    assert (status["scheduled"], status["failed"]) == (0, 1)


def test_a_worker_killed_mid_job_leaves_it_recoverable_and_jobs_retry_reruns_it_once(env, rq_redis):
    rq_redis.set(SLEEP, "1")
    with transaction.atomic():
        message = sleepy_job.defer(note="interrupted")
    job_id = outbox_job_id(message.id)

    worker = start_worker(env)
    try:
        wait_for(lambda: values(STARTED) == ["interrupted"], what="the job to start")
    finally:
        # The machine dies mid-job: the worker first (so it cannot report its work-horse's death), then the horse.
        horse = rq_redis.get(HORSE)
        kill_worker(worker, int(horse) if horse else None)

    # Still claimed by the dead worker until its heartbeat lapses: shown as started, not lost.
    queue = rq_queue("default")
    assert job_id in StartedJobRegistry(queue=queue).get_job_ids(cleanup=False)
    status = _status()
    assert status["queues"]["default"]["started"] == 1
    assert status["recovered_abandoned"] == []  # jobs_status never takes a job whose worker may be alive

    # Once the heartbeat has lapsed (about 90 s; here, a cleanup as of 10 minutes on), it is handed back.
    assert recover_abandoned_jobs(at=time.time() + 600) == [job_id]
    status = _status()
    assert status["queues"]["default"]["started"] == 0
    [failed] = status["failed_jobs"]
    assert failed["id"] == job_id
    assert "AbandonedJobError" in failed["error"]
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Status.RELAYED, 0)  # the killed run's transaction rolled back

    rq_redis.delete(SLEEP)
    assert f"requeued {job_id} ({sleepy_job.path})" in _retry("--all-failed")
    assert _retry("--all-failed").strip().endswith("No failed jobs to requeue.")  # queued once, not twice
    run_worker_process(env)

    assert values(STARTED) == ["interrupted", "interrupted"]
    assert values(DONE) == ["interrupted"]  # ran to its end once
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Status.DONE, 1)
    status = _status()
    assert (status["queues"]["default"]["failed"], status["queues"]["default"]["queued"]) == (0, 0)
