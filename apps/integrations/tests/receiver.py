"""A webhook receiver for the tests: a threaded HTTP server on 127.0.0.1 that records what it is sent.

    receiver.fail(2)            # the next two requests get 500, then 200 again
    receiver.answer(302)        # the next request gets a redirect (to /elsewhere, which records a hit)
    receiver.hang(2.0)          # the next request waits 2 s before answering
    receiver.requests           # what came: path, headers (lower-case names), body bytes

Not a conftest and holds no asserts; `conftest.receiver` starts one per test.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


@dataclass
class _Answer:
    status: int = 200
    delay: float = 0.0


@dataclass
class Receiver:
    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    _planned: deque[_Answer] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    @property
    def hooks(self) -> list[Received]:
        """Requests to the hook itself (not to a redirect's target)."""
        return [r for r in self.requests if r.path == "/hook"]

    def fail(self, times: int, status: int = 500) -> None:
        for _ in range(times):
            self.answer(status)

    def answer(self, status: int) -> None:
        with self._lock:
            self._planned.append(_Answer(status=status))

    def hang(self, seconds: float) -> None:
        with self._lock:
            self._planned.append(_Answer(delay=seconds))

    def always_fail(self) -> None:
        self.fail(1000)

    def _next(self) -> _Answer:
        with self._lock:
            return self._planned.popleft() if self._planned else _Answer()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def receiver_start() -> Receiver:
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            receiver = holder["receiver"]
            receiver.requests.append(
                Received(path=self.path, headers={k.lower(): v for k, v in self.headers.items()}, body=body)
            )
            if self.path != "/hook":
                self._reply(200, b"elsewhere")
                return
            planned = receiver._next()
            if planned.delay:
                time.sleep(planned.delay)
            self._reply(planned.status, b'{"received": true}' if planned.status < 300 else b"nope")

        def _reply(self, status: int, body: bytes) -> None:
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(OSError):  # the client gave up (a time-out test)
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.block_on_close = False
    receiver = holder["receiver"] = Receiver(server=server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver
