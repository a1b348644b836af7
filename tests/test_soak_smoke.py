"""`make soak` end to end for a few seconds on tiny data, and its verdict on made-up samples.

The smoke runs the soak as `make soak` would, in a child process with an explicit environment:
its own database (`test_<db>_soak`, dropped at the end), gunicorn as the web role (one worker,
to stay quick), four seconds of the `list`, `me`, `detail` and `create` flows at once, RSS
sampled every two seconds, results in a temporary directory. Its numbers are not judged (a
loaded CI machine proves nothing about memory); the shape is, and every request must have been
answered as its flow expects. The verdict (errors, dead workers, RSS growth after warm-up) is
tested directly on samples, where each way of failing can be shown.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import psycopg
import pytest

from benchmarks import soak_report
from benchmarks.soak import SOAK_FLOWS, parse
from benchmarks.soak_report import Sample
from config import env as E
from config.env import BASE_DIR

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def soak_db():
    name = f"test_{urlsplit(E.DATABASE_URL).path.lstrip('/')}_soak"
    yield name
    with psycopg.connect(E.DATABASE_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgres
@pytest.mark.redis
def test_the_soak_runs_a_few_seconds_on_tiny_data_without_errors(tmp_path, soak_db, child_env):
    out = tmp_path / "soak"
    command = [sys.executable, "-m", "benchmarks.soak", "--scale", "tiny", "--seconds", "4", "--interval", "2"]
    command += ["--workers", "1", "--connections", "4", "--warmup", "0", "--out", str(out), "--db-name", soak_db]
    env = child_env(DATABASE_URL=E.DATABASE_URL, REDIS_URL=E.REDIS_URL)
    started = time.monotonic()
    process = subprocess.Popen(
        command, cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        stdout, _ = process.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, _ = process.communicate()
        pytest.fail(f"the soak took over 180 s:\n{stdout}")
    assert process.returncode == 0, stdout
    assert time.monotonic() - started > 4

    result = json.loads((out / "soak.json").read_text())
    assert result["passed"] is True, result["failures"]
    assert result["errors"] == 0
    assert set(result["flows"]) == set(SOAK_FLOWS)
    for name, flow in result["flows"].items():
        assert flow["requests"] > 0, name
        assert flow["unexpected_status"] == flow["transport_errors"] == 0, (name, flow)
    assert result["requests"] == sum(f["requests"] for f in result["flows"].values())
    progress = re.findall(r"soak +\d+/4s +[\d.]+ req/s +[\d,]+ requests +0 errors +RSS [\d.]+ MB", stdout)
    assert 1 <= len(progress) == len(result["samples"]) <= 3, stdout  # one line and RSS sample per 2-second slice
    assert all(len(s["rss_mb"]) == 1 for s in result["samples"])
    assert [set(s["rps"]) for s in result["slices"]] == [set(SOAK_FLOWS)] * len(result["samples"])
    assert "throughput after warm-up:" in stdout
    (worker,) = result["workers"]
    assert 20 < worker["first_mb"] <= worker["max_mb"] < 2000
    assert worker["last_mb"] <= worker["max_mb"]
    assert result["workers_replaced"] == 0
    assert "  PASS" in stdout

    svg = ET.parse(out / "soak.svg").getroot()  # noqa: S314 - the file this run just wrote
    assert svg.tag == f"{SVG}svg"
    assert len(list(svg.iter(f"{SVG}polyline"))) == 1
    assert any(re.fullmatch(r"worker 1 [+-][\d.]+%", el.text or "") for el in svg.iter(f"{SVG}text"))
    assert not list(out.glob("work-*")), "the work directory (tokens, keys, logs) is removed after a good run"
    with psycopg.connect(E.DATABASE_URL, autocommit=True) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [soak_db]).fetchone() is None


def _samples(*rss: tuple[float, float]) -> list[Sample]:
    """Two workers (pids 1 and 2), one sample every 10 s."""
    return [Sample(t=10.0 * i, rss={1: a, 2: b}) for i, (a, b) in enumerate(rss)]


def _verdict(samples: list[Sample], *, errors: int = 0, warmup: float = 20, allowed: float = 10) -> list[str]:
    workers = soak_report.worker_rss(samples, warmup)
    return soak_report.verdict(
        requests=1000,
        errors=errors,
        workers=workers,
        replaced=soak_report.replaced_workers(samples),
        max_growth_pct=allowed,
    )


def test_growth_during_warm_up_is_not_counted_and_a_steady_run_passes():
    samples = _samples((60, 61), (90, 92), (100, 100), (104, 101), (105, 103))  # imports finish in warm-up
    assert _verdict(samples) == []
    first, second = soak_report.worker_rss(samples, 20)
    assert (first["first_mb"], first["last_mb"], first["max_mb"], first["growth_pct"]) == (100, 105, 105, 5.0)
    assert second["growth_pct"] == 3.0


def test_a_worker_whose_rss_keeps_growing_after_warm_up_fails_the_soak():
    samples = _samples((60, 61), (90, 92), (100, 100), (106, 101), (111, 102))
    (why,) = _verdict(samples)
    assert "worker 1" in why
    assert "11.0%" in why
    assert _verdict(samples, allowed=12) == []


def test_any_failed_request_fails_the_soak():
    samples = _samples((100, 100), (100, 100))
    assert _verdict(samples, errors=1) == ["1 requests failed (a status other than the flow's, or a socket error)"]


def test_a_worker_that_dies_during_the_soak_fails_it():
    samples = [Sample(0, {1: 100, 2: 100}), Sample(10, {1: 100, 2: 100}), Sample(20, {1: 100, 3: 80})]
    assert soak_report.replaced_workers(samples) == 1
    assert any("died" in why for why in _verdict(samples, warmup=0))


def test_soak_minutes_and_growth_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("SOAK_MINUTES", "3")
    monkeypatch.setenv("SOAK_MAX_GROWTH", "15")
    args = parse([])
    assert (args.total, args.max_growth, args.warmup, args.interval) == (180, 15.0, 36.0, 10)
    assert parse(["--minutes", "10"]).warmup == 60  # warm-up: 20 % of the soak, at most a minute
    assert parse(["--seconds", "4"]).total == 4


def test_the_svg_draws_one_line_per_worker_with_its_growth():
    samples = _samples((100, 90), (104, 99))
    svg = ET.fromstring(soak_report.svg(samples, warmup_s=0, max_growth_pct=10, title="t"))  # noqa: S314
    assert len(list(svg.iter(f"{SVG}polyline"))) == 2
    labels = {el.text for el in svg.iter(f"{SVG}text")}
    assert {"worker 1 +4%", "worker 2 +10%"} <= labels
