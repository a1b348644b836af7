"""The transactional outbox: committed promises run once, rolled-back ones never, Redis outages lose nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta

import django_rq
import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from apps.common.models import OutboxMessage
from apps.common.outbox import outbox_enqueue, outbox_job_id, outbox_purge, outbox_relay, outbox_run, outbox_sweep
from apps.common.tenancy import tenant_context
from apps.common.tests.jobs_fixtures import (
    fail_after,
    failing_job,
    failing_later_job,
    make_tenant,
    record_job,
    run_worker,
    unreachable_queues,
    write_then_fail_job,
)

pytest_plugins = ["apps.common.tests.jobs_fixtures"]

Status = OutboxMessage.Status


def _pending(job_path: str, **kwargs: object) -> OutboxMessage:
    """A row as a relay that never reached Redis leaves it (no after-commit callback)."""
    return OutboxMessage.objects.create(job_path=job_path, kwargs=kwargs, queue="default")


# Embedded mode (no REDIS_URL): synchronous fakeredis queues run the job inline after commit.


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("embedded_queues")
class TestEmbedded:
    def test_committed_block_runs_the_job_after_commit(self, job_calls):
        with transaction.atomic():
            message = record_job.defer(note="committed")
            assert job_calls == []  # nothing runs before the commit

        message.refresh_from_db()
        assert job_calls[0]["note"] == "committed"
        assert message.status == Status.DONE
        assert message.attempts == 1
        assert message.done_at is not None
        assert message.relayed_at is not None

    def test_rolled_back_block_runs_nothing_and_leaves_no_row(self, job_calls):
        with pytest.raises(RuntimeError, match="rolled back"):
            fail_after(lambda: record_job.defer(note="rolled back"))

        assert job_calls == []
        assert not OutboxMessage.objects.exists()

    def test_failing_inline_job_does_not_break_the_committed_caller(self, job_calls):
        with transaction.atomic():
            failed = failing_job.defer(note="x")
            ok = record_job.defer(note="after")

        failed.refresh_from_db()
        ok.refresh_from_db()
        assert failed.status == Status.FAILED
        assert failed.attempts == 1
        assert "RuntimeError: boom: x" in failed.last_error
        assert ok.status == Status.DONE  # the other promise of the same commit still ran

    def test_failed_job_writes_roll_back_but_its_error_is_recorded(self):
        with transaction.atomic():
            message = write_then_fail_job.defer(note="w")

        message.refresh_from_db()
        assert message.status == Status.FAILED
        assert "failed after writing" in message.last_error
        assert list(OutboxMessage.objects.values_list("id", flat=True)) == [message.id]

    def test_running_a_done_message_again_does_nothing(self, job_calls):
        with transaction.atomic():
            message = record_job.defer(note="once")

        outbox_run(message_id=str(message.id))
        outbox_relay(message)

        message.refresh_from_db()
        assert len(job_calls) == 1
        assert message.attempts == 1
        assert message.status == Status.DONE

    def test_a_job_whose_row_was_purged_does_nothing(self, job_calls):
        outbox_run(message_id=str(uuid.uuid4()))
        assert job_calls == []

    def test_sweep_relays_old_pending_rows_and_leaves_fresh_ones(self, job_calls):
        old = _pending(record_job.path, note="old")
        OutboxMessage.objects.filter(id=old.id).update(created_at=timezone.now() - timedelta(minutes=1))
        fresh = _pending(record_job.path, note="fresh")

        assert outbox_sweep() == 1

        old.refresh_from_db()
        fresh.refresh_from_db()
        assert [call["note"] for call in job_calls] == ["old"]
        assert old.status == Status.DONE
        assert fresh.status == Status.PENDING  # its own after-commit relay normally gets there first

    def test_sweep_batch_is_bounded(self, job_calls):
        for n in range(3):
            _pending(record_job.path, note=str(n))

        assert outbox_sweep(batch_size=2, min_age_seconds=0) == 2
        assert OutboxMessage.objects.filter(status=Status.PENDING).count() == 1

    def test_unknown_job_path_is_marked_failed_without_stopping_the_sweep(self, job_calls):
        bad = _pending("apps.common.outbox.outbox_sweep")
        good = _pending(record_job.path, note="good")

        assert outbox_sweep(min_age_seconds=0) == 1

        bad.refresh_from_db()
        good.refresh_from_db()
        assert bad.status == Status.FAILED
        assert "UnknownJob" in bad.last_error
        assert good.status == Status.DONE

    def test_unknown_queue_is_refused_at_enqueue(self):
        with pytest.raises(ValueError, match="Unknown RQ queue"):
            outbox_enqueue(job_path=record_job.path, kwargs={}, queue="nope")
        assert not OutboxMessage.objects.exists()

    def test_purge_deletes_only_done_rows_past_retention(self):
        old_done = _pending(record_job.path, note="a")
        recent_done = _pending(record_job.path, note="b")
        old_failed = _pending(record_job.path, note="c")
        long_ago = timezone.now() - timedelta(days=30)
        OutboxMessage.objects.filter(id=old_done.id).update(status=Status.DONE, done_at=long_ago)
        OutboxMessage.objects.filter(id=recent_done.id).update(status=Status.DONE, done_at=timezone.now())
        OutboxMessage.objects.filter(id=old_failed.id).update(status=Status.FAILED, done_at=long_ago)

        assert outbox_purge() == 1
        assert set(OutboxMessage.objects.values_list("id", flat=True)) == {recent_done.id, old_failed.id}


# Against the CI Redis: a real queue, an in-process worker, a real outage.


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
class TestRedis:
    def test_relay_enqueues_once_under_a_deterministic_id(self, rq_redis, job_calls):
        with transaction.atomic():
            message = record_job.defer(note="queued")

        queue = django_rq.get_queue("default")
        assert queue.job_ids == [outbox_job_id(message.id)]
        message.refresh_from_db()
        assert message.status == Status.RELAYED
        assert job_calls == []  # nothing ran: a worker has to take it

        assert outbox_relay(message)  # a double relay adds nothing
        assert queue.job_ids == [outbox_job_id(message.id)]

        run_worker("default")
        message.refresh_from_db()
        assert message.status == Status.DONE
        assert len(job_calls) == 1

    def test_tenant_is_reentered_in_the_worker(self, rq_redis, fake_tenants, job_calls):
        acme = make_tenant(fake_tenants, "Acme")
        with tenant_context(acme):
            record_job.defer(note="as acme")

        run_worker("default")
        assert job_calls == [{"note": "as acme", "tenant": acme, "context_tenant_id": acme.id}]

    def test_rerun_after_the_job_expired_does_no_double_work(self, rq_redis, job_calls):
        with transaction.atomic():
            message = record_job.defer(note="once")
        run_worker("default")

        # The finished job's key expires after its result TTL; a late relay then enqueues a fresh job...
        rq_redis.delete(Job.key_for(outbox_job_id(message.id)))
        assert outbox_relay(message)
        run_worker("default")

        # ...which finds the row done and does nothing.
        assert len(job_calls) == 1
        message.refresh_from_db()
        assert message.attempts == 1

    def test_redis_down_at_commit_leaves_the_row_pending_and_the_sweep_relays_it(self, rq_redis, job_calls):
        with override_settings(RQ_QUEUES=unreachable_queues()), transaction.atomic():
            message = record_job.defer(note="during outage")
        # The caller's commit succeeded; the promise waits in the table.
        message.refresh_from_db()
        assert message.status == Status.PENDING
        assert django_rq.get_queue("default").count == 0

        with override_settings(RQ_QUEUES=unreachable_queues()):
            assert outbox_sweep(min_age_seconds=0) == 0  # still down: stays pending, no exception
        message.refresh_from_db()
        assert message.status == Status.PENDING

        assert outbox_sweep(min_age_seconds=0) == 1  # Redis is back
        run_worker("default")
        assert outbox_sweep(min_age_seconds=0) == 0
        run_worker("default")

        message.refresh_from_db()
        assert message.status == Status.DONE
        assert [call["note"] for call in job_calls] == ["during outage"]

    def test_sweep_relays_again_a_job_redis_lost_before_it_ran(self, rq_redis, job_calls):
        with transaction.atomic():
            message = record_job.defer(note="lost")
        rq_redis.flushdb()  # Redis restarted without persistence

        assert outbox_sweep(min_age_seconds=0) == 0  # relayed only recently: a worker may be on it
        assert outbox_sweep(min_age_seconds=0, stale_after_seconds=0) == 1
        run_worker("default")

        message.refresh_from_db()
        assert message.status == Status.DONE
        assert len(job_calls) == 1

    def test_failing_job_is_retried_then_kept_in_the_failed_registry(self, rq_redis, job_calls):
        with transaction.atomic():
            message = failing_job.defer(note="always")  # Retry(max=2), no interval

        run_worker("default")

        queue = django_rq.get_queue("default")
        job_id = outbox_job_id(message.id)
        assert job_id in FailedJobRegistry(queue=queue).get_job_ids()
        assert len(job_calls) == 3  # the first run and two retries
        message.refresh_from_db()
        assert message.status == Status.FAILED
        assert message.attempts == 3
        assert "RuntimeError: boom: always" in message.last_error

    def test_retry_with_interval_waits_for_the_scheduler(self, rq_redis):
        with transaction.atomic():
            message = failing_later_job.defer(note="later")

        run_worker("default")  # no --with-scheduler: the retry waits in the scheduled registry

        queue = django_rq.get_queue("default")
        assert outbox_job_id(message.id) in ScheduledJobRegistry(queue=queue).get_job_ids()
        message.refresh_from_db()
        assert message.status == Status.FAILED
        assert message.attempts == 1
