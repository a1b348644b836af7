"""`/metrics`: bearer `METRICS_TOKEN`, hidden outside debug without one, all workers counted.

docs/api.md: 401 without `Bearer $METRICS_TOKEN` when that is set; with no token set,
open in debug and 404 otherwise; Prometheus text aggregated across workers.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from config.env import BASE_DIR

TOKEN = "metrics-test-token-0123456789"
REQUESTS_METRIC = "django_http_requests_total_by_method_total"


@pytest.fixture
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", f"bearer{TOKEN}", "Bearer ünïcødé"],
)
def test_metrics_refuses_missing_or_wrong_token(client, metrics_token, authorization):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = client.get("/metrics", **headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response["Content-Type"] == "application/problem+json"
    assert REQUESTS_METRIC.encode() not in response.content


def test_metrics_with_the_token_is_prometheus_text(client, metrics_token):
    client.get("/healthz")
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert f"# TYPE {REQUESTS_METRIC} counter" in text
    assert re.search(rf'^{REQUESTS_METRIC}{{method="GET"}} \d', text, re.MULTILINE)


def test_metrics_without_a_token_is_hidden_outside_debug(client, settings):
    settings.METRICS_TOKEN = ""
    settings.DEBUG = False
    assert client.get("/metrics").status_code == 404


def test_metrics_without_a_token_is_open_in_debug(client, settings):
    settings.METRICS_TOKEN = ""
    settings.DEBUG = True
    response = client.get("/metrics")
    assert response.status_code == 200
    assert REQUESTS_METRIC.encode() in response.content


# --- gunicorn, two workers, one shared view of the counters -------------------------------------

GUNICORN = Path(sys.executable).parent / "gunicorn"  # the one installed beside this interpreter
N_REQUESTS = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _get_counts_per_worker(multiproc_dir: Path) -> dict[str, float]:
    """GET request counts as each worker wrote them, read from its own sample file."""
    counts: dict[str, float] = {}
    for path in multiproc_dir.glob("counter_*.db"):
        for metric in MultiProcessCollector.merge([str(path)]):
            for sample in metric.samples:
                if sample.name == REQUESTS_METRIC and sample.labels.get("method") == "GET":
                    counts[path.stem.split("_")[-1]] = sample.value
    return counts


@pytest.mark.skipif(not GUNICORN.exists(), reason="gunicorn is not installed in .venv")
def test_gunicorn_metrics_count_the_requests_of_every_worker(tmp_path, child_env):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    multiproc_dir = tmp_path / "prometheus"
    multiproc_dir.mkdir()
    (multiproc_dir / "counter_99999.db").write_bytes(b"")  # left over from a previous run
    env = child_env(
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1",
        METRICS_TOKEN=TOKEN,
        SECURE_SSL_REDIRECT="false",
        PROMETHEUS_MULTIPROC_DIR=str(multiproc_dir),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        MEDIA_ROOT=str(tmp_path / "media"),
        LOG_LEVEL="WARNING",
        # No Redis here: the test-run flag lets production settings use a per-process cache.
        ATRIUM_TESTING="true",
    )
    server = subprocess.Popen(
        [
            str(GUNICORN),
            "config.wsgi",
            "-c",
            str(BASE_DIR / "config" / "gunicorn.conf.py"),
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            try:
                if _get(f"{base}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "gunicorn did not answer within 30 s"
            time.sleep(0.2)
        assert not (multiproc_dir / "counter_99999.db").exists(), "stale samples were not cleared"

        # Make sure both workers serve requests: a sync worker handles one connection at a time, so a
        # client that sends half a request holds one worker while every other request goes to the other.
        # No wait is needed: the connection is established (queued first) before any other connects, and
        # the listening socket's accept queue is first in, first out.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
            slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            with ThreadPoolExecutor(max_workers=4) as pool:
                statuses = list(pool.map(lambda _: _get(f"{base}/healthz")[0], range(N_REQUESTS)))
            assert statuses == [200] * N_REQUESTS
            slow.sendall(b"Connection: close\r\n\r\n")
            assert slow.recv(64).startswith(b"HTTP/1.1 200")

        status, text = _get(f"{base}/metrics", TOKEN)
        assert status == 200
        match = re.search(rf'^{REQUESTS_METRIC}{{method="GET"}} ([0-9.e+]+)$', text, re.MULTILINE)
        assert match, text[:500]
        reported = float(match.group(1))

        per_worker = _get_counts_per_worker(multiproc_dir)
        assert len([count for count in per_worker.values() if count > 0]) == 2, per_worker
        # One worker answered /metrics; it reported the sum of both, not its own count.
        assert reported == sum(per_worker.values()) > max(per_worker.values())
        assert reported >= N_REQUESTS + 2  # + the slow request and the /metrics request itself

        assert _get(f"{base}/metrics")[0] == 401
        assert not (Path(env["HOME"]) / ".gunicorn").exists(), "gunicorn opened its shared control socket"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)
        if server.stderr:
            server.stderr.close()
