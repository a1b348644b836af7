"""The alert rules and the Grafana dashboard: promtool accepts and unit-tests the rules, and both query
only metrics that Atrium's `/metrics` really exports.

infra/observability/alerts.yml, tests/alerts_test.yml, grafana/atrium.json; docs/runbooks/alerts.md.
promtool comes from Debian's prometheus package, installed by scripts/ci/ensure-promtool.sh when it is
missing. make test runs that script before pytest (scripts/ci/pytest.sh), and the `promtool` fixture
runs it as well, so a targeted run works too. Nothing here skips.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.env import BASE_DIR

OBSERVABILITY = BASE_DIR / "infra" / "observability"
ALERTS = OBSERVABILITY / "alerts.yml"
ALERTS_TEST = OBSERVABILITY / "tests" / "alerts_test.yml"
DASHBOARD = OBSERVABILITY / "grafana" / "atrium.json"
RUNBOOK = BASE_DIR / "docs" / "runbooks" / "alerts.md"
ENSURE = BASE_DIR / "scripts" / "ci" / "ensure-promtool.sh"
TOKEN = "observability-test-token-0123456789"

# PromQL words that are neither metrics nor functions.
KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}
SAMPLE_SUFFIXES = ("", "_total", "_bucket", "_count", "_sum", "_created")


@pytest.fixture(scope="module")
def promtool() -> str:
    result = subprocess.run([str(ENSURE)], capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, f"scripts/ci/ensure-promtool.sh failed:\n{result.stdout}\n{result.stderr}"
    return "/usr/bin/promtool"


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load(ALERTS)["groups"] for rule in group["rules"] if "alert" in rule]


def dashboard_exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (strings, matchers, ranges, groupings removed)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\$\w+", " ", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", expr):
        if match.group(2) is None and match.group(1).lower() not in KEYWORDS:
            names.add(match.group(1))
    return names


def run(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=120, check=False)


def test_promtool_check_accepts_every_alert_rule(promtool):
    result = run(promtool, "check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout + result.stderr


def test_promtool_check_refuses_a_broken_rule(promtool, tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "groups:\n  - name: broken\n    rules:\n      - alert: Broken\n        expr: sum(rate(atrium_x_total[5m])\n"
    )
    result = run(promtool, "check", "rules", str(broken))
    assert result.returncode != 0
    assert "FAILED" in result.stdout + result.stderr


def test_promtool_unit_tests_of_the_rules_pass(promtool):
    result = run(promtool, "test", "rules", str(ALERTS_TEST))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_promtool_unit_tests_fail_when_a_threshold_no_longer_fires(promtool, tmp_path):
    # The unit tests can fail: raise the 5xx threshold past the synthetic 9% and they do.
    rules = ALERTS.read_text(encoding="utf-8").replace(") > 0.05", ") > 0.5")
    assert rules != ALERTS.read_text(encoding="utf-8")
    (tmp_path / "alerts.yml").write_text(rules)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "alerts_test.yml").write_text(ALERTS_TEST.read_text(encoding="utf-8"))
    result = run(promtool, "test", "rules", str(tmp_path / "tests" / "alerts_test.yml"))
    assert result.returncode != 0
    assert "AtriumHigh5xxRatio" in result.stdout + result.stderr


def test_every_alert_has_a_unit_test_where_it_fires_and_one_where_it_does_not():
    names = {rule["alert"] for rule in alert_rules()}
    cases = [case for test in load(ALERTS_TEST)["tests"] for case in test["alert_rule_test"]]
    fires = {case["alertname"] for case in cases if case.get("exp_alerts")}
    quiet = {case["alertname"] for case in cases if not case.get("exp_alerts")}
    assert names == fires
    assert names == quiet
    assert {
        "AtriumHigh5xxRatio",
        "AtriumHighLatencyP99",
        "AtriumLoginFailureSpike",
        "AtriumLockoutSpike",
        "AtriumRefreshTokenReuse",
        "AtriumJobsFailed",
        "AtriumJobsQueueStalled",
        "AtriumReadinessFailing",
    } <= names


def test_every_alert_links_a_runbook_section_that_exists():
    headings = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in RUNBOOK.read_text(encoding="utf-8").splitlines()
        if line.startswith("## ")
    }
    for rule in alert_rules():
        path, _, anchor = rule["annotations"]["runbook"].partition("#")
        assert path == "docs/runbooks/alerts.md", rule["alert"]
        assert anchor == rule["alert"].lower()
        assert anchor in headings, f"docs/runbooks/alerts.md has no section for {rule['alert']}"
        assert rule["labels"]["severity"] in {"page", "warning"}


def test_metric_names_reads_selectors_not_functions_labels_or_keywords():
    expr = 'sum by (le) (rate(a_bucket{view!~"x|y"}[5m])) / on (job) b_total > 0.5 and max(c) or vector(1)'
    assert metric_names(expr) == {"a_bucket", "b_total", "c"}


@pytest.mark.django_db
def test_rules_and_dashboard_query_only_metrics_atrium_exports(client, settings):
    settings.METRICS_TOKEN = TOKEN
    client.get("/healthz")  # loads django-prometheus' middleware metrics
    text = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
    families = set(re.findall(r"^# TYPE (\S+) ", text, re.MULTILINE))
    exported = {family + suffix for family in families for suffix in SAMPLE_SUFFIXES}
    queried = {name for rule in alert_rules() for name in metric_names(rule["expr"])}
    queried |= {name for expr in dashboard_exprs() for name in metric_names(expr)}
    assert len(queried) >= 15
    assert queried - exported == set()
