"""`manage.py rqcron` loads the project's cron config; the outbox sweep is in it."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django_rq.cron import DjangoCronScheduler

from apps.common.management.commands.rqcron import Command

pytest_plugins = ["apps.common.tests.jobs_fixtures"]

FAN_OUT = "apps.identity.services.tenant_batches.tenant_batches_defer"

pytestmark = pytest.mark.usefixtures("embedded_queues")


def _scheduled(scheduler: DjangoCronScheduler) -> dict[str, tuple[str, int | None]]:
    return {job.func_name: (job.queue_name, job.interval) for job in scheduler.get_jobs()}


def test_cron_config_registers_the_outbox_sweep():
    scheduler = DjangoCronScheduler()
    scheduler.load_config_from_file("config.cron")

    jobs = _scheduled(scheduler)
    queue, interval = jobs["apps.common.outbox.outbox_sweep"]
    assert queue == "default"
    assert interval is not None
    assert interval <= 60  # a promise made while Redis was down waits about this long
    assert "apps.common.outbox.outbox_purge" in jobs
    assert "apps.common.idempotency.idempotency_purge" in jobs


def test_work_over_every_tenant_is_deferred_in_batches_on_each_jobs_queue():
    scheduler = DjangoCronScheduler()
    scheduler.load_config_from_file("config.cron")

    per_tenant = {job.kwargs["job"]: job for job in scheduler.get_jobs() if job.name.startswith("per_tenant:")}
    assert {path: (job.func_name, job.queue_name) for path, job in per_tenant.items()} == {
        "apps.flows.periodic.analytics_rollup_batch_job": (FAN_OUT, "default"),
        "apps.billing.periodic.usage_rollup_batch_job": (FAN_OUT, "billing"),
        "apps.billing.periodic.billing_nightly_batch_job": (FAN_OUT, "billing"),
        "apps.files.periodic.file_orphans_sweep_batch_job": (FAN_OUT, "default"),
        "apps.integrations.periodic.webhooks_sweep_batch_job": (FAN_OUT, "webhooks"),
    }
    assert per_tenant["apps.billing.periodic.billing_nightly_batch_job"].cron == "15 2 * * *"
    assert per_tenant["apps.billing.periodic.usage_rollup_batch_job"].interval == 60 * 60


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[DjangoCronScheduler]:
    """Record the scheduler instead of entering its blocking loop."""
    schedulers: list[DjangoCronScheduler] = []
    monkeypatch.setattr(DjangoCronScheduler, "start", lambda self: schedulers.append(self))
    return schedulers


def test_rqcron_without_arguments_uses_the_configured_cron_module(started, settings):
    assert settings.RQ_CRON_CONFIG == "config.cron"

    call_command("rqcron")

    [scheduler] = started
    assert "apps.common.outbox.outbox_sweep" in _scheduled(scheduler)


def test_rqcron_accepts_an_explicit_config_path(started):
    call_command("rqcron", "config.cron", "--logging-level", "WARNING")

    [scheduler] = started
    assert "apps.common.outbox.outbox_sweep" in _scheduled(scheduler)


def test_project_command_overrides_django_rqs():
    from django.core.management import get_commands

    assert get_commands()["rqcron"] == "apps.common"
    assert Command().create_parser("manage.py", "rqcron").parse_args([]).config_path is None
