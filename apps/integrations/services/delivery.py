"""Delivering one event to one endpoint: the attempt, its log, the retries, and disabling a failing endpoint.

`webhook_deliver_job` (queue `webhooks`, promised through the outbox in the
transaction that wrote the delivery) makes one attempt (`delivery_attempt`):
it locks the delivery row, skips it unless it is `pending` and due (so a job
run twice, or a retry fired after a manual redelivery, sends nothing more),
re-checks the URL against the SSRF guard, signs, POSTs and records the attempt.

- **2xx**: `succeeded`; the endpoint's run of failures ends.
- **Anything else, retries left**: the next wait of `WEBHOOKS_RETRY_SCHEDULE`
  is set as `next_attempt_at`. A wait of 0 defers the next attempt at once
  (outbox); a longer one is scheduled on RQ's scheduler after commit
  (`webhook_retry_due`, workers run `--with-scheduler`). If Redis loses it,
  the hourly sweep (`services.housekeeping`) defers every overdue delivery.
- **No retries left**: `failed`; the endpoint's `consecutive_failures` grows,
  and at `WEBHOOKS_DISABLE_AFTER_FAILURES` the endpoint is disabled and its
  creator (or, if they are gone, the tenant's owners) mailed.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError

from apps.common.jobs import tenant_job
from apps.common.mail import mail_send
from apps.common.outbox import rq_queue
from apps.common.tenancy import load_tenant, tenant_context
from apps.identity.models import Membership, Tenant, User
from apps.identity.services.audit import audit_record
from apps.integrations.addresses import PrivateAddress, UnsafeUrl, target_resolve
from apps.integrations.metrics import QUEUE, delivery_counted, endpoint_disabled_mark
from apps.integrations.models import WebhookDelivery, WebhookEndpoint
from apps.integrations.secret_store import SecretUnreadable
from apps.integrations.signing import event_body, signed_headers
from apps.integrations.transport import Outcome, post

logger = logging.getLogger("atrium.webhooks")

Status = WebhookDelivery.Status
# A retry fired a little before its time (another host's clock) still counts as due.
DUE_SLACK = timedelta(seconds=5)
LOG_ATTEMPTS = 50  # attempts kept in a delivery's log (the counters keep counting)
DISABLED_MAIL = "integrations/mail/endpoint_disabled"


@tenant_job(queue=QUEUE, retry=None)  # retries are the delivery's own schedule, recorded in its row
def webhook_deliver_job(*, delivery_id: str) -> None:
    """One attempt of one delivery (idempotent: a delivery not pending or not yet due is left alone)."""
    delivery_attempt(delivery_id=delivery_id)


def delivery_defer(delivery: WebhookDelivery) -> None:
    """Promise an attempt in the caller's transaction (the outbox sends it once that commits)."""
    webhook_deliver_job.defer(delivery_id=str(delivery.id))


def webhook_retry_due(*, tenant_id: str, delivery_id: str) -> None:
    """RQ's scheduler runs this when a retry's wait is over: the attempt is promised through the outbox."""
    with tenant_context(load_tenant(tenant_id)), transaction.atomic():
        webhook_deliver_job.defer(delivery_id=delivery_id)


@transaction.atomic
def delivery_attempt(*, delivery_id: str, now: datetime | None = None) -> str | None:
    """Make one attempt of a due, pending delivery; its status after, or None when nothing was due."""
    now = now or timezone.now()
    delivery: WebhookDelivery | None = (
        WebhookDelivery.objects.select_for_update(of=("self",))
        .select_related("endpoint", "event")
        .filter(id=delivery_id)
        .first()
    )
    if delivery is None or delivery.status != Status.PENDING:
        return None
    if delivery.next_attempt_at is not None and delivery.next_attempt_at > now + DUE_SLACK:
        return None  # a retry fired early, or a duplicate of an attempt already rescheduled
    endpoint = delivery.endpoint
    if not endpoint.active:
        outcome = Outcome(ok=False, status=None, duration_ms=0, body="", error="the endpoint is disabled")
        _record(delivery, outcome, now)
        _finish(delivery, Status.FAILED)
        return str(delivery.status)
    outcome = _send(delivery, endpoint, now)
    _record(delivery, outcome, now)
    if outcome.ok:
        _finish(delivery, Status.SUCCEEDED)
        _count("succeeded")
        if endpoint.consecutive_failures:
            WebhookEndpoint.objects.filter(id=endpoint.id).update(consecutive_failures=0)
    elif delivery.retries_left > 0:
        _retry_later(delivery, now)
    else:
        _finish(delivery, Status.FAILED)
        _count("failed")
        _failed_for_good(endpoint_id=endpoint.id, now=now)
    return str(delivery.status)


def _send(delivery: WebhookDelivery, endpoint: WebhookEndpoint, now: datetime) -> Outcome:
    try:
        # Checked again at every attempt: what the name resolves to may have changed since it was saved.
        target = target_resolve(endpoint.url, allow_private=settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES)
    except UnsafeUrl as exc:
        if isinstance(exc, PrivateAddress):
            _count("refused")
        return Outcome(ok=False, status=None, duration_ms=0, body="", error=str(exc)[:300])
    body = event_body(delivery.event)
    try:
        headers = signed_headers(endpoint=endpoint, message_id=delivery.message_id, body=body, now=now)
    except SecretUnreadable as exc:  # SECRET_KEY changed without a fallback: nothing can be signed
        return Outcome(ok=False, status=None, duration_ms=0, body="", error=str(exc)[:300])
    return post(target=target, body=body, headers=headers)


def _record(delivery: WebhookDelivery, outcome: Outcome, now: datetime) -> None:
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.response_code = outcome.status
    delivery.duration_ms = outcome.duration_ms
    delivery.response_body = outcome.body
    delivery.error = outcome.error
    entry: dict[str, Any] = {
        "at": now.isoformat(),
        "response_code": outcome.status,
        "duration_ms": outcome.duration_ms,
        "error": outcome.error,
    }
    delivery.log = [*delivery.log, entry][-LOG_ATTEMPTS:]


def _finish(delivery: WebhookDelivery, status: str) -> None:
    delivery.status = status
    delivery.next_attempt_at = None
    delivery.save()


def retry_wait(*, retries_left: int) -> int:
    """Seconds before the next retry of a delivery with `retries_left` retries (the schedule's next value)."""
    schedule = list(settings.WEBHOOKS_RETRY_SCHEDULE) or [0]
    index = max(0, len(schedule) - retries_left)
    return int(schedule[min(index, len(schedule) - 1)])


def _retry_later(delivery: WebhookDelivery, now: datetime) -> None:
    wait = retry_wait(retries_left=delivery.retries_left)
    delivery.retries_left -= 1
    delivery.next_attempt_at = now + timedelta(seconds=wait)
    delivery.save()
    _count("retried")
    if wait == 0:
        delivery_defer(delivery)
        return
    transaction.on_commit(
        partial(_schedule_retry, str(delivery.tenant_id), str(delivery.id), wait, delivery.attempts), robust=True
    )


def _schedule_retry(tenant_id: str, delivery_id: str, wait: int, attempt: int) -> None:
    try:
        rq_queue(QUEUE).enqueue_in(
            timedelta(seconds=wait),
            webhook_retry_due,
            tenant_id=tenant_id,
            delivery_id=delivery_id,
            job_id=f"webhook-retry-{delivery_id}-{attempt}",
            description="webhook retry",
        )
    except RedisError as exc:  # the hourly sweep defers it once it is overdue
        logger.warning("webhooks.retry_not_scheduled", extra={"delivery_id": delivery_id, "error": repr(exc)})


def _count(outcome: str) -> None:
    transaction.on_commit(partial(delivery_counted, outcome), robust=True)


def _failed_for_good(*, endpoint_id: Any, now: datetime) -> None:
    endpoint: WebhookEndpoint | None = WebhookEndpoint.objects.select_for_update().filter(id=endpoint_id).first()
    if endpoint is None:
        return
    endpoint.consecutive_failures += 1
    fields = ["consecutive_failures", "updated_at"]
    if endpoint.active and endpoint.consecutive_failures >= settings.WEBHOOKS_DISABLE_AFTER_FAILURES:
        endpoint.active = False
        endpoint.disabled_at = now
        fields += ["active", "disabled_at"]
        _disabled(endpoint)
    endpoint.save(update_fields=fields)


def _disabled(endpoint: WebhookEndpoint) -> None:
    """Tell the people who can fix it; record it; count it."""
    tenant = Tenant.objects.get(id=endpoint.tenant_id)
    audit_record(
        tenant=tenant,
        action="integrations.webhook_disabled",
        target=endpoint,
        data={"url": endpoint.url, "consecutive_failures": endpoint.consecutive_failures},
    )
    recipients = _recipients(endpoint)
    if recipients:
        mail_send(
            to=recipients,
            template=DISABLED_MAIL,
            context={
                "url": endpoint.url,
                "failures": endpoint.consecutive_failures,
                "endpoint_id": str(endpoint.id),
                "tenant_name": tenant.name,
            },
        )
    transaction.on_commit(partial(endpoint_disabled_mark, str(endpoint.id), disabled=True), robust=True)
    logger.warning("webhooks.endpoint_disabled", extra={"endpoint_id": str(endpoint.id)})


def _recipients(endpoint: WebhookEndpoint) -> list[str]:
    """The endpoint's creator while they are an active member; else the tenant's active owners."""
    active = Membership.objects.filter(status=Membership.Status.ACTIVE, user__is_active=True)
    if endpoint.created_by_id is not None and active.filter(user_id=endpoint.created_by_id).exists():
        creator: User = User.objects.get(id=endpoint.created_by_id)
        return [creator.email]
    owners = active.filter(role__system=True, role__code="owner").select_related("user")
    return sorted({m.user.email for m in owners})
