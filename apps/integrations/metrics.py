"""Webhook metrics, read at scrape time from Redis (beside the job metrics on `/metrics`).

The delivery attempts run in RQ workers, which serve no `/metrics` of their
own, so their outcomes are counted in a Redis hash every process adds to, as
the job run counters are (`apps.common.outbox.RUNS_KEY`). The gauges are read
from Redis too: the web role cannot count rows across tenants (row-level
security), and a scrape must stay cheap.

- `atrium_webhook_deliveries_total{outcome}`: attempts by outcome —
  `succeeded`, `retried` (failed, a retry is scheduled), `failed` (failed for
  good), `refused` (the URL resolved to a private address).
- `atrium_webhook_retry_queue_depth`: retries waiting out their back-off (RQ's
  scheduled registry of the `webhooks` queue).
- `atrium_webhook_endpoints_disabled`: endpoints disabled after failing, not yet
  enabled again or deleted (a Redis set of their ids, kept by the services).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from redis import Redis
from redis.exceptions import RedisError
from rq.registry import ScheduledJobRegistry

from apps.common.outbox import rq_queue

logger = logging.getLogger("atrium.webhooks")

QUEUE = "webhooks"
OUTCOMES_KEY = "atrium:webhooks:deliveries"
DISABLED_KEY = "atrium:webhooks:disabled"


def _redis() -> Redis:
    return rq_queue(QUEUE).connection


def delivery_counted(outcome: str) -> None:
    """One attempt more with `outcome`; never raises (a metric is not worth a failed delivery)."""
    try:
        _redis().hincrby(OUTCOMES_KEY, outcome, 1)
    except RedisError as exc:
        logger.warning("webhooks.count_failed", extra={"outcome": outcome, "error": repr(exc)})


def endpoint_disabled_mark(endpoint_id: str, *, disabled: bool) -> None:
    """Keep the disabled-endpoints set in step with an endpoint's state; never raises."""
    try:
        if disabled:
            _redis().sadd(DISABLED_KEY, endpoint_id)
        else:
            _redis().srem(DISABLED_KEY, endpoint_id)
    except RedisError as exc:
        logger.warning("webhooks.mark_failed", extra={"endpoint_id": endpoint_id, "error": repr(exc)})


class WebhooksCollector:
    """The three webhook families; a Redis outage drops them for that scrape and never fails it."""

    def collect(self) -> Iterator[Metric]:
        try:
            connection = _redis()
            counted = connection.hgetall(OUTCOMES_KEY)
            disabled = int(connection.scard(DISABLED_KEY))
            waiting = ScheduledJobRegistry(queue=rq_queue(QUEUE)).get_job_count(cleanup=False)
        except Exception as exc:  # noqa: BLE001 - Redis down (or not configured) never fails the scrape
            logger.warning("webhooks.metrics_redis_down", extra={"error": repr(exc)})
            return
        deliveries = CounterMetricFamily(
            "atrium_webhook_deliveries",
            "Webhook delivery attempts by outcome: succeeded, retried, failed (for good), refused (private address).",
            labels=["outcome"],
        )
        for key, value in sorted(counted.items()):
            deliveries.add_metric([key.decode() if isinstance(key, bytes) else str(key)], int(value))
        depth = GaugeMetricFamily("atrium_webhook_retry_queue_depth", "Webhook retries waiting out their back-off.")
        depth.add_metric([], waiting)
        off = GaugeMetricFamily(
            "atrium_webhook_endpoints_disabled", "Webhook endpoints disabled after failing, not enabled again."
        )
        off.add_metric([], disabled)
        yield from [deliveries, depth, off]


WEBHOOK_METRICS = WebhooksCollector()
