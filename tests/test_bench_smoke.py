"""`make bench`'s harness, end to end on tiny data: it runs, and its results have the promised shape.

The harness (benchmarks/, docs/performance.md) runs as `make bench` would, in a child process
with an explicit environment: its own database (`test_<db>_bench`, dropped at the end), gunicorn
as the web role, wrk (installed by the harness's own prerequisite step when missing, or the run
fails saying how to install it), three tenants of 20 events, one pass of 1-second flows.
Results go to a temporary directory. The numbers themselves are not judged here (a loaded CI
machine proves nothing about speed); the shape is: every flow, numeric fields, ratios, targets,
and a Markdown table and an SVG chart that parse. The `dashboard` flow's browser sessions are
signed in over HTTP through the portal's login form, so this also holds that path working; the
`detail` flow's files are uploaded through the files service, and `create` records analytics
events past the per-user throttle's default rate (the harness raises it), each answer as expected;
the `api_key` flow's keys are made through the API-key service.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from numbers import Real
from urllib.parse import urlsplit

import psycopg
import pytest

from benchmarks.load import FLOWS
from config import env as E
from config.env import BASE_DIR

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

FLOW_KEYS = {"flow", "rps", "p50_ms", "p99_ms", "cpu_ms_per_req", "queries", "ratio_bare", "ratio_stock"}
TOP_KEYS = {"machine", "flows", "scale", "create_tenant_ms", "rss_mb", "passes", "targets"}


def _number(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


@pytest.fixture
def bench_db():
    """The smoke run's own database: named after the test database, dropped however the run ends."""
    name = f"test_{urlsplit(E.DATABASE_URL).path.lstrip('/')}_bench"
    yield name
    with psycopg.connect(E.DATABASE_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run_harness(out, bench_db, child_env) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "benchmarks", "--scale", "tiny", "--out", str(out), "--db-name", bench_db]
    env = child_env(DATABASE_URL=E.DATABASE_URL, REDIS_URL=E.REDIS_URL)
    # Its own process group: on a timeout the harness and everything it started (gunicorn, wrk) stop.
    process = subprocess.Popen(
        command,
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, _ = process.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, _ = process.communicate()
        pytest.fail(f"the bench harness took over 240 s:\n{stdout}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, "")


def test_the_bench_harness_runs_on_tiny_data_and_writes_results_of_the_promised_shape(tmp_path, bench_db, child_env):
    out = tmp_path / "bench"
    done = _run_harness(out, bench_db, child_env)
    assert done.returncode == 0, done.stdout

    result = json.loads((out / "latest.json").read_text())
    assert set(result) == TOP_KEYS
    stamped = [p for p in out.glob("*.json") if p.name != "latest.json"]
    assert len(stamped) == 1
    assert json.loads(stamped[0].read_text()) == result
    assert not list(out.glob("work-*")), "the work directory (tokens, keys, logs) is removed after a good run"

    flows = {f["flow"]: f for f in result["flows"]}
    assert list(flows) == [f.name for f in FLOWS]
    for name, flow in flows.items():
        assert set(flow) == FLOW_KEYS, name
        for key in ("rps", "p50_ms", "p99_ms", "cpu_ms_per_req", "ratio_bare"):
            assert _number(flow[key]), (name, key, flow[key])
        assert flow["rps"] > 0, name
        assert isinstance(flow["queries"], int), name
        assert flow["queries"] >= 0, name
        assert (flow["ratio_stock"] is not None) == (name == "list"), name
    assert flows["bare"]["ratio_bare"] == 1
    assert flows["list"]["ratio_bare"] == pytest.approx(flows["list"]["rps"] / flows["bare"]["rps"], rel=0.01)
    assert flows["list"]["ratio_stock"] == pytest.approx(flows["list"]["rps"] / flows["stock"]["rps"], rel=0.01)

    # Each flow's one probed request answered what the flow expects: the load measured that, not errors.
    probed = result["scale"]["statements"]
    assert {name: probed[name]["status"] for name in flows} == {f.name: f.expect for f in FLOWS}
    assert {(e["endpoint"], e["status"]) for e in result["scale"]["explain"]} == {
        (endpoint, 200) for endpoint in ("audit-events", "members", "invitations", "roles", "portals")
    }
    assert all(e["found"] and _number(e["shared_buffers"]) for e in result["scale"]["explain"])

    targets = result["targets"]
    assert len(targets) == 18
    for target in targets:
        assert {"target", "value", "threshold", "met"} <= set(target)
        assert isinstance(target["met"], bool)
        assert target["value"] is None or _number(target["value"])
    assert any(t["target"].startswith("list >= 2.0x stock") for t in targets)
    # api_key: the same list with a tenant API key: a warm key adds no statement to what a token's request runs.
    assert flows["api_key"]["queries"] == flows["list"]["queries"], (probed["api_key"]["sql"], probed["list"]["sql"])
    api_key_target = next(t for t in targets if t["flow"] == "api_key")
    assert api_key_target["value"] == pytest.approx(flows["list"]["rps"] / flows["api_key"]["rps"], rel=0.01)

    # login is judged against a password check measured right after its own pass, not minutes apart.
    login_run = next(r for r in result["passes"][0]["runs"] if r["flow"] == "login")
    assert _number(login_run["check_cpu_ms"])
    assert login_run["check_cpu_ms"] > 0
    login_target = next(t for t in targets if t["flow"] == "login")
    assert login_target["value"] == pytest.approx(login_run["cpu_ms_per_req"] - login_run["check_cpu_ms"], abs=0.01)

    # The dashboard: browser sessions signed in over HTTP, each page answered 200 under load and after it.
    dashboard = flows["dashboard"]
    assert dashboard["queries"] >= 1, "the dashboard reads its tenant and user: the probe counted its statements"
    assert probed["dashboard"]["sql"], probed["dashboard"]
    by_target = {t["target"]: t for t in targets}
    assert by_target["dashboard >= 0.1x bare"]["value"] == dashboard["ratio_bare"]
    assert by_target["dashboard: <= 10 SQL statements"]["value"] == dashboard["queries"]
    dashboard_run = next(r for r in result["passes"][0]["runs"] if r["flow"] == "dashboard")
    assert dashboard_run["requests"] > 0
    assert dashboard_run["unexpected_status"] == 0
    assert dashboard_run["transport_errors"] == 0
    assert not [n for n in result["scale"]["notes"] if "browser sessions" in n], result["scale"]["notes"]

    # detail (a file of the token's own tenant: 200, never a 404) and create (an analytics event: 201, never
    # a 429 from the per-user throttle): each answered as expected under load, their statements counted.
    statements = {
        "detail": ('"files_file"', "the detail reads its file row"),
        "create": ('INSERT INTO "flows_analyticsevent"', "create inserts the event"),
    }
    for name, (needle, what) in statements.items():
        flow = flows[name]
        assert flow["queries"] >= 1, name
        assert any(needle in sql for sql in probed[name]["sql"]), (what, probed[name]["sql"])
        assert by_target[f"{name} >= 0.2x bare"]["value"] == flow["ratio_bare"]
        flow_run = next(r for r in result["passes"][0]["runs"] if r["flow"] == name)
        assert flow_run["requests"] > 0, name
        assert flow_run["unexpected_status"] == 0, (name, flow_run)
        assert flow_run["transport_errors"] == 0, (name, flow_run)
    assert result["scale"]["seed_seconds"]["files (services.file_upload)"] >= 0

    assert len(result["passes"]) == 1
    assert sorted(run["flow"] for run in result["passes"][0]["runs"]) == sorted(flows)
    assert result["create_tenant_ms"]["count"] == 5
    assert _number(result["create_tenant_ms"]["median"])
    assert result["rss_mb"]["workers"]
    assert all(_number(v) for v in result["rss_mb"]["workers"])
    assert result["machine"]["cores"]
    assert result["machine"]["postgres"]

    table = (out / "latest.md").read_text()
    assert "| flow | req/s |" in table
    assert all(f"| {name} |" in table for name in flows)
    svg = ET.parse(out / "latest.svg").getroot()  # noqa: S314 - the file this run just wrote
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    labels = {el.text for el in svg.iter("{http://www.w3.org/2000/svg}text")}
    assert set(flows) <= labels

    with psycopg.connect(E.DATABASE_URL, autocommit=True) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [bench_db]).fetchone() is None
