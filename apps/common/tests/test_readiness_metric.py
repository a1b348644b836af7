"""A failing `/readyz` check is counted at `/metrics`: the "readiness failing" alert watches that counter.

docs/runbooks/alerts.md (AtriumReadinessFailing), infra/observability/alerts.yml.
"""

from __future__ import annotations

import re

import pytest
from prometheus_client import REGISTRY

pytestmark = pytest.mark.django_db

TOKEN = "readiness-metric-token-0123456789"
METRIC = "atrium_readiness_check_failures_total"


def failures(check: str) -> float:
    value = REGISTRY.get_sample_value(METRIC, {"check": check})
    assert value is not None, f"{METRIC}{{check={check!r}}} is not exported"
    return value


def test_every_check_is_exported_at_zero_before_any_failure(client, settings):
    settings.METRICS_TOKEN = TOKEN
    text = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
    for check in ("database", "cache", "redis", "storage"):
        assert re.search(rf'^{METRIC}{{check="{check}"}} \d', text, re.MULTILINE), check


def test_a_failing_check_counts_once_per_probe_and_only_for_that_check(client, settings, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    settings.MEDIA_ROOT = str(blocker / "media")
    settings.METRICS_TOKEN = TOKEN
    storage_before, database_before = failures("storage"), failures("database")

    assert client.get("/readyz").status_code == 503
    assert client.get("/readyz").status_code == 503

    assert failures("storage") == storage_before + 2
    assert failures("database") == database_before
    text = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
    exported = re.search(rf'^{METRIC}{{check="storage"}} (\S+)$', text, re.MULTILINE)
    assert exported is not None
    assert float(exported.group(1)) == storage_before + 2


def test_a_passing_probe_counts_nothing(client, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    before = {check: failures(check) for check in ("database", "cache", "redis", "storage")}
    assert client.get("/readyz").status_code == 200
    assert {check: failures(check) for check in before} == before
