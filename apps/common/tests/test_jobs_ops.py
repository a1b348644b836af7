"""The jobs' operator side in-process: retry settings, `jobs_status`, `jobs_retry`, `/metrics`, the cron entry.

The real-worker acceptance tests are `test_jobs_worker.py`.
"""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from django_rq.cron import DjangoCronScheduler
from rq.job import Job
from rq.registry import FailedJobRegistry

from apps.common.jobs import DEFAULT_RETRY, JOBS_METRICS
from apps.common.models import OutboxMessage
from apps.common.outbox import outbox_job_id, rq_queue
from apps.common.tests.jobs_fixtures import failing_job, record_job, run_worker, unreachable_queues
from config.settings.rq import retry_intervals

pytest_plugins = ["apps.common.tests.jobs_fixtures"]

Status = OutboxMessage.Status


def _status(*args: str) -> dict[str, Any]:
    out = StringIO()
    call_command("jobs_status", "--json", *args, stdout=out)
    return json.loads(out.getvalue())


def _retry(*args: str) -> str:
    out = StringIO()
    call_command("jobs_retry", *args, stdout=out)
    return out.getvalue()


def _metrics() -> str:
    from prometheus_client import generate_latest

    return generate_latest(JOBS_METRICS).decode()


# --- retry settings ---------------------------------------------------------------------------------------


def test_retry_intervals_setting_is_parsed_and_checked():
    assert retry_intervals("10, 60,300") == [10, 60, 300]
    assert retry_intervals("0,0") == [0, 0]
    for bad in ("", "ten", "5,-1"):
        with pytest.raises(ImproperlyConfigured, match="ATRIUM_JOB_RETRY_INTERVALS"):
            retry_intervals(bad)


def test_default_retry_follows_the_setting(settings):
    assert (DEFAULT_RETRY.max, DEFAULT_RETRY.intervals) == (3, [10, 60, 300])  # the shipped default
    settings.ATRIUM_JOB_RETRY_INTERVALS = [0, 5]
    assert (DEFAULT_RETRY.max, DEFAULT_RETRY.intervals) == (2, [0, 5])
    assert "max=2" in repr(DEFAULT_RETRY)


# --- embedded queues (no Redis): commands still answer -----------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("embedded_queues")
class TestEmbedded:
    def test_jobs_status_shows_empty_queues_and_the_outbox_backlog(self, settings):
        settings.RQ_EMBEDDED = True
        # A row never relayed (Redis was down at commit) waits for the sweep.
        message = OutboxMessage.objects.create(job_path=record_job.path, kwargs={"note": "waits"})
        OutboxMessage.objects.filter(id=message.id).update(created_at=timezone.now() - timedelta(minutes=3))

        status = _status()
        assert status["embedded"] is True
        assert set(status["queues"]) == set(settings.RQ_QUEUES)
        assert status["queues"]["default"] == {
            "queued": 0, "started": 0, "scheduled": 0, "deferred": 0, "failed": 0, "oldest_queued_age_seconds": None,
        }  # fmt: skip
        assert status["outbox"]["pending"] == 1
        assert 170 < status["outbox"]["oldest_pending_age_seconds"] < 400

        out = StringIO()
        call_command("jobs_status", stdout=out)
        text = out.getvalue()
        assert "embedded" in text
        assert "Outbox: 1 pending (oldest 3m)" in text
        assert "No failed jobs." in text

    def test_inline_runs_are_counted_as_succeeded_or_failed_never_retried(self, job_calls):
        with transaction.atomic():
            record_job.defer(note="fine")
            failing_job.defer(note="broken")
        text = _metrics()
        assert f'atrium_job_runs_total{{job="{record_job.path}",outcome="succeeded",queue="default"}} 1.0' in text
        assert f'atrium_job_runs_total{{job="{failing_job.path}",outcome="failed",queue="default"}} 1.0' in text
        assert 'outcome="retried"' not in text


def test_jobs_retry_needs_one_job_id_or_all_failed():
    with pytest.raises(CommandError, match="JOB_ID or --all-failed"):
        call_command("jobs_retry")
    with pytest.raises(CommandError, match="JOB_ID or --all-failed"):
        call_command("jobs_retry", "outbox-x", "--all-failed")


# --- the CI Redis, an in-process worker --------------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
class TestRedis:
    def test_queued_jobs_and_the_oldest_age_are_shown_and_exported(self, rq_redis):
        with transaction.atomic():
            message = record_job.defer(note="waiting")
        rq_redis.hset(Job.key_for(outbox_job_id(message.id)), "enqueued_at", "2020-01-01T00:00:00.000000Z")

        default = _status()["queues"]["default"]
        assert default["queued"] == 1
        assert default["oldest_queued_age_seconds"] > 3600

        text = _metrics()
        assert "atrium_jobs_redis_up 1.0" in text
        assert 'atrium_jobs_queued{queue="default"} 1.0' in text
        assert 'atrium_jobs_queued{queue="mail"} 0.0' in text
        assert "atrium_outbox_pending 0.0" in text
        age = next(
            line
            for line in text.splitlines()
            if line.startswith('atrium_jobs_oldest_queued_age_seconds{queue="default"}')
        )
        assert float(age.split()[-1]) > 3600

    def test_the_relayed_job_carries_the_configured_back_off(self, rq_redis, settings):
        settings.ATRIUM_JOB_RETRY_INTERVALS = [0, 7]
        with transaction.atomic():
            message = record_job.defer(note="x")
        job = rq_queue("default").fetch_job(outbox_job_id(message.id))
        assert job is not None
        assert (job.retries_left, job.retry_intervals) == (2, [0, 7])

    def test_jobs_retry_requeues_every_failed_job_once(self, rq_redis, job_calls):
        with transaction.atomic():
            first = failing_job.defer(note="one")  # Retry(max=2) of its own
            second = record_job.defer(note="two")
        run_worker("default")
        assert [call["note"] for call in job_calls].count("one") == 3
        queue = rq_queue("default")
        assert len(FailedJobRegistry(queue=queue)) == 1

        out = _retry("--all-failed")
        assert f"requeued {outbox_job_id(first.id)} ({failing_job.path}) on default" in out
        assert "RuntimeError: boom: one" in out
        assert "1 job(s) requeued." in out
        assert _retry("--all-failed").strip() == "No failed jobs to requeue."
        assert queue.job_ids == [outbox_job_id(first.id)]  # once

        run_worker("default")
        assert [call["note"] for call in job_calls].count("one") == 4  # one more run, no retries left
        assert [call["note"] for call in job_calls].count("two") == 1
        second.refresh_from_db()
        assert second.status == Status.DONE

    def test_jobs_retry_of_an_unknown_or_already_requeued_id_exits_1(self, rq_redis, job_calls):
        with transaction.atomic():
            message = failing_job.defer(note="x")
        run_worker("default")
        job_id = outbox_job_id(message.id)

        assert f"requeued {job_id}" in _retry(job_id)
        with pytest.raises(CommandError, match=rf"No failed job {job_id}.*jobs_status"):
            _retry(job_id)
        with pytest.raises(CommandError, match="No failed job outbox-nope"):
            _retry("outbox-nope")
        assert rq_queue("default").job_ids == [job_id]

    def test_redis_down_exits_1_with_what_to_do_and_metrics_still_answer(self, rq_redis):
        with override_settings(RQ_QUEUES=unreachable_queues()):
            with pytest.raises(CommandError, match=r"unreachable.*Start Redis or fix REDIS_URL"):
                _status()
            with pytest.raises(CommandError, match="unreachable"):
                _retry("--all-failed")
            text = _metrics()
        assert "atrium_jobs_redis_up 0.0" in text
        assert "atrium_jobs_queued" not in text
        assert "atrium_outbox_pending 0.0" in text

    def test_metrics_endpoint_exports_the_job_families(self, rq_redis, client, settings):
        settings.METRICS_TOKEN, settings.DEBUG = "", True
        text = client.get("/metrics").content.decode()
        for family in ("atrium_jobs_queued", "atrium_jobs_failed", "atrium_jobs_oldest_queued_age_seconds",
                       "atrium_job_runs_total", "atrium_outbox_pending"):  # fmt: skip
            assert f"# TYPE {family} " in text


def test_jobs_status_as_a_process_exits_1_when_redis_is_unreachable(child_env, tmp_path):
    import subprocess
    import sys

    from apps.common.tests.jobs_fixtures import closed_port
    from config.env import BASE_DIR

    env = child_env(DJANGO_DEBUG="true", REDIS_URL=f"redis://:secret@127.0.0.1:{closed_port()}/0")
    done = subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), "jobs_status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "is unreachable" in done.stderr
    assert "secret" not in done.stderr


def test_cron_hands_back_abandoned_jobs():
    scheduler = DjangoCronScheduler()
    scheduler.load_config_from_file("config.cron")
    jobs = {job.func_name: job.interval for job in scheduler.get_jobs()}
    assert jobs["apps.common.jobs.recover_abandoned_jobs"] <= 10 * 60
