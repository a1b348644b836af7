"""Real servers a fault test starts, kills (SIGKILL) and starts again, all on 127.0.0.1.

`RedisServer` is a `redis-server` on a free port with no persistence (a kill
loses its data, as a crashed cache node without a disk would). `MotoServer` is
a `moto_server` S3 on a free port. Both keep their port across restarts, so a
client configured once reconnects to the new process. Not a conftest; it
holds no asserts (the tests in this package do).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(ready: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {timeout} s")
        time.sleep(0.05)


class _Process:
    """One server process on a fixed port; `kill()` is SIGKILL, `start()` starts it again."""

    name = "server"

    def __init__(self, scratch: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.scratch = scratch
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def start(self) -> None:
        assert self.process is None, f"{self.name} already running"
        self._log = (self.scratch / f"{self.name}.log").open("ab")
        self.process = subprocess.Popen(
            self.command(),
            cwd=self.scratch,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until(self._ready_or_dead, timeout=30, what=f"{self.name} on port {self.port}")
        except RuntimeError:
            self.kill()
            raise

    def _ready_or_dead(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited {self.process.returncode}: {self.log_tail()}")
        return self.ready()

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would: no goodbye to the clients."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None
        # The port is free again only once nothing accepts on it any more.
        wait_until(self._refused, timeout=10, what=f"{self.name} port {self.port} closed")

    def _refused(self) -> bool:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            return sock.connect_ex(("127.0.0.1", self.port)) != 0

    def log_tail(self) -> str:
        path = self.scratch / f"{self.name}.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


class RedisServer(_Process):
    name = "redis"

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def command(self) -> list[str]:
        return [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.scratch),
        ]

    def ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


class MotoServer(_Process):
    name = "moto"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        executable = Path(sys.executable).with_name("moto_server")
        return [str(executable), "-H", "127.0.0.1", "-p", str(self.port)]

    def ready(self) -> bool:
        try:
            urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1).close()
        except (urllib.error.URLError, OSError):
            return False
        return True


def redis_settings(url: str, base_queues: dict[str, Any]) -> dict[str, Any]:
    """CACHES and RQ_QUEUES as `config.settings` builds them for REDIS_URL=url."""
    caches = {
        "default": {
            "BACKEND": "apps.common.redis_cache.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "atrium",
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
    queues = {name: {"URL": url, "DEFAULT_TIMEOUT": 300} for name in base_queues}
    return {"CACHES": caches, "RQ_QUEUES": queues, "REDIS_URL": url}
