"""The embedded default shares its security state between the server and operator commands.

`make run` (scripts/run.sh) serves with no Redis. An operator who then runs
`manage.py revoke_sessions` in another shell must end the user's access at the
server's next request, as with Redis (docs/runbooks/incident-auth.md); and the
links commands print must point at the server `make run` started, whatever
port it serves on. Here `scripts/run.sh` itself serves, on a free port, with
its local state under a temporary ATRIUM_VAR_DIR; the commands run as separate
processes with the same environment. The last tests hold the file cache to
what the security state needs from a shared store: atomic counters that keep
their expiry, and no eviction of live entries.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from config.cache import SharedFileCache
from config.env import BASE_DIR

PASSWORD = "embedded-demo-password-0123"
START_TIMEOUT = 120  # migrate, seed_rbac and seed_demo on a fresh database, then runserver
RELOAD_TIMEOUT = 30
ME = "/api/v1/identity/auth/me/"
LOGIN = "/api/v1/identity/auth/login/"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    base: str
    env: dict[str, str]
    cwd: Path

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        token: str | None = None,
        *,
        retry: bool = True,
    ) -> Any:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        # runserver's autoreloader restarts the server whenever a file of the checkout changes (someone
        # editing beside the test run): wait for it to be back, as someone at a browser would.
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(request, timeout=20) as response:
                    return response.status, json.loads(response.read() or b"null")
            except urllib.error.HTTPError as exc:
                return exc.code, json.loads(exc.read() or b"null")
            except OSError:
                if not retry or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)  # poll interval

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A second process, as an operator would run it by hand beside `make run`."""
        return subprocess.run(
            [sys.executable, str(BASE_DIR / "manage.py"), *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


@pytest.fixture(scope="module")
def make_run(tmp_path_factory: pytest.TempPathFactory, child_env: Callable[..., dict[str, str]]) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("make-run")
    port = _free_port()
    # What `make run` has on a fresh machine: debug, and nothing else set — no DATABASE_URL (the
    # embedded SQLite file), no REDIS_URL, no PUBLIC_BASE_URL. ATRIUM_VAR_DIR keeps it all under root.
    # run.sh serves with this test run's interpreter (`make run` would use .venv-run, built from the same lock).
    venv = str(Path(sys.executable).parent.parent)
    env = child_env(DJANGO_DEBUG="true", ATRIUM_VAR_DIR=str(root / "var"), LOG_LEVEL="WARNING", VENV=venv)
    log_path = root / "run.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            ["bash", str(BASE_DIR / "scripts" / "run.sh"), "127.0.0.1", str(port)],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    served = Served(base=f"http://127.0.0.1:{port}", env=env, cwd=root)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert server.poll() is None, log_path.read_text()[-3000:]
            try:
                if served.call("GET", "/healthz", retry=False)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"make run did not answer within {START_TIMEOUT} s"
            time.sleep(0.2)  # poll interval
        yield served
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)
        except ProcessLookupError:
            pass


def test_commands_run_beside_make_run_print_links_to_its_port(make_run):
    result = make_run.manage("seed_demo", "--password", PASSWORD)
    assert result.returncode == 0, result.stderr
    assert f"{make_run.base}/portal/acme/" in result.stdout
    assert "127.0.0.1:8000" not in result.stdout


def test_revoke_sessions_from_a_command_reaches_the_make_run_server(make_run):
    seeded = make_run.manage("seed_demo", "--password", PASSWORD)
    assert seeded.returncode == 0, seeded.stderr
    status, tokens = make_run.call("POST", LOGIN, {"email": "member@acme.test", "password": PASSWORD, "portal": "acme"})
    assert status == 200, tokens
    assert make_run.call("GET", ME, token=tokens["access"])[0] == 200

    revoked = make_run.manage("revoke_sessions", "--user", "member@acme.test", "--reason", "test")
    assert revoked.returncode == 0, revoked.stderr
    assert "Ended 1 session" in revoked.stdout

    status, problem = make_run.call("GET", ME, token=tokens["access"])
    assert status == 401, problem


# --------------------------------------------------------------------------- the file cache itself

COUNTER_SCRIPT = """
import sys
from config.cache import SharedFileCache
cache = SharedFileCache(sys.argv[1], {})
cache.add("hits", 0, timeout=3600)
for _ in range(int(sys.argv[2])):
    cache.incr("hits")
"""


def test_increments_from_several_processes_are_all_counted(tmp_path, child_env):
    processes, rounds = 4, 150
    children = [
        subprocess.Popen(
            [sys.executable, "-c", COUNTER_SCRIPT, str(tmp_path / "cache"), str(rounds)], cwd=tmp_path, env=child_env()
        )
        for _ in range(processes)
    ]
    assert [child.wait(timeout=120) for child in children] == [0] * processes
    # A read-modify-write without the lock loses increments when two processes interleave.
    assert SharedFileCache(str(tmp_path / "cache"), {}).get("hits") == processes * rounds


def test_incr_keeps_the_expiry_of_the_key(tmp_path, monkeypatch):
    cache = SharedFileCache(str(tmp_path), {})
    cache.add("window", 0, timeout=30)
    cache.incr("window")
    cache.incr("window", 2)
    assert cache.get("window") == 3
    now = time.time()
    # 300 s (the default timeout) after the increment, a window of 30 s is long over.
    monkeypatch.setattr(time, "time", lambda: now + 31)
    with pytest.raises(ValueError, match="not found"):
        cache.incr("window")
    assert cache.get("window") is None
    assert not list(tmp_path.glob("*.djcache"))  # the expired entry is gone, not left behind


def test_add_and_touch(tmp_path, monkeypatch):
    cache = SharedFileCache(str(tmp_path), {})
    assert cache.add("k", "first", timeout=10)
    assert not cache.add("k", "second", timeout=10)
    assert cache.get("k") == "first"
    assert cache.touch("k", timeout=100)
    assert not cache.touch("missing", timeout=100)
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 50)
    assert cache.get("k") == "first"
    assert cache.delete("k")
    assert cache.get("k") is None


def test_a_full_cache_drops_expired_entries_never_live_ones(tmp_path, monkeypatch):
    cache = SharedFileCache(str(tmp_path), {"OPTIONS": {"MAX_ENTRIES": 5}})
    cache.set_many({f"revoked:{n}": 1 for n in range(5)}, timeout=900)
    cache.set_many({f"old:{n}": 1 for n in range(3)}, timeout=1)
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 2)
    cache.set("new", 1, timeout=900)
    assert cache.get_many([f"revoked:{n}" for n in range(5)]) == {f"revoked:{n}": 1 for n in range(5)}
    assert cache.get("new") == 1
    assert len(list(tmp_path.glob("*.djcache"))) == 6  # the three expired files are gone
    cache.clear()
    assert cache.get("new") is None
