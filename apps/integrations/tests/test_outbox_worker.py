"""Deliveries ride the outbox: not lost when Redis is down at commit; run by a real `rqworker --burst` on Redis."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import django_rq
import pytest
from django.test import override_settings

from apps.common.models import OutboxMessage
from apps.common.outbox import outbox_sweep
from apps.common.tenancy import tenant_context
from apps.common.tests.jobs_fixtures import closed_port
from apps.common.tests.worker_jobs import worker_env
from apps.identity.models import Membership
from apps.integrations.models import WebhookDelivery
from apps.integrations.services.delivery import webhook_deliver_job
from apps.integrations.tests.conftest import detail
from config.env import BASE_DIR
from config.settings.rq import embedded_queues

pytestmark = pytest.mark.django_db(transaction=True)


def _unreachable() -> dict[str, dict[str, Any]]:
    url = f"redis://127.0.0.1:{closed_port()}/13"
    return {name: {"URL": url, "DEFAULT_TIMEOUT": 300} for name in embedded_queues()}


def test_an_event_committed_while_redis_is_down_is_delivered_once_redis_is_back(
    owner_api, make_endpoint, receiver, member, tenant
):
    endpoint = make_endpoint(events=["member.removed"])
    leaving = member("member")
    with tenant_context(tenant):
        membership = Membership.objects.get(user=leaving)

    with override_settings(RQ_QUEUES=_unreachable()):
        # The removal commits; the relay after commit cannot reach Redis, and says so only in the log.
        assert owner_api.delete(f"/api/v1/identity/members/{membership.id}/").status_code == 204
        assert outbox_sweep(min_age_seconds=0) == 0  # still down: the promise stays pending
    assert receiver.requests == []
    [message] = OutboxMessage.objects.filter(job_path=webhook_deliver_job.path)
    assert message.status == OutboxMessage.Status.PENDING
    with tenant_context(tenant):
        assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.PENDING

    with override_settings(RQ_QUEUES=embedded_queues()):  # Redis is back (inline queues)
        assert outbox_sweep(min_age_seconds=0) == 1

    [request] = receiver.hooks
    assert json.loads(request.body)["data"]["membership_id"] == str(membership.id)
    [logged] = owner_api.get(f"{detail(endpoint['id'])}deliveries/").json()["results"]
    assert (logged["status"], logged["attempts"]) == ("succeeded", 1)


# --------------------------------------------------------------------------- a real worker on the CI Redis


@pytest.fixture
def webhooks_redis() -> Iterator[Any]:
    connection = django_rq.get_connection("webhooks")
    connection.flushdb()
    yield connection
    connection.flushdb()


def _run_worker(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), "rqworker", "webhooks", "mail", "--burst"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    output = (done.stdout + done.stderr).decode(errors="replace")
    assert done.returncode == 0, output
    return output


@pytest.mark.redis
@pytest.mark.postgres
def test_a_real_worker_retries_a_failing_receiver_then_delivers(
    owner_api, make_endpoint, receiver, child_env, tmp_path, webhooks_redis, settings, client
):
    endpoint = make_endpoint()
    receiver.fail(2)
    sent = owner_api.post(f"{detail(endpoint['id'])}test/")
    assert sent.status_code == 202
    assert receiver.requests == []  # queued in Redis; no worker yet

    env = worker_env(child_env, tmp_path)
    env.update(WEBHOOKS_ALLOW_PRIVATE_ADDRESSES="true", WEBHOOKS_RETRY_SCHEDULE="0,0")
    _run_worker(env)

    assert len(receiver.hooks) == 3
    assert {r.header("webhook-id") for r in receiver.hooks} == {sent.json()["webhook_id"]}
    [logged] = owner_api.get(f"{detail(endpoint['id'])}deliveries/").json()["results"]
    assert (logged["status"], logged["attempts"]) == ("succeeded", 3)

    # The worker's outcomes are counted where /metrics (this process) reads them.
    settings.METRICS_TOKEN, settings.DEBUG = "", True
    text = client.get("/metrics").content.decode()
    assert 'atrium_webhook_deliveries_total{outcome="retried"} 2.0' in text
    assert 'atrium_webhook_deliveries_total{outcome="succeeded"} 1.0' in text
