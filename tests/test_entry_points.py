"""The production entry points serve: `gunicorn config.wsgi` and an ASGI server on `config.asgi`.

Each loads the settings and Django's handler through the module a server
imports, then answers `/healthz` (liveness: no database, no cache).
"""

from __future__ import annotations

import io
import json
from wsgiref.util import setup_testing_defaults

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.core.signals import request_finished, request_started
from django.db import close_old_connections


@pytest.fixture(autouse=True)
def _leave_the_test_connection_alone():
    """As Django's test client does: a real handler would check (and drop) this run's DB connection.

    The handlers close stale connections around each request; here that would touch the connection
    pytest-django guards (and `/healthz` itself uses none).
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_the_wsgi_application_answers_healthz():
    from config.wsgi import application

    environ: dict[str, object] = {"PATH_INFO": "/healthz", "HTTP_HOST": "testserver", "wsgi.input": io.BytesIO()}
    setup_testing_defaults(environ)
    started: list[str] = []
    body = b"".join(application(environ, lambda status, headers, exc_info=None: started.append(status)))
    assert started == ["200 OK"]
    assert json.loads(body) == {"status": "ok"}


def test_the_asgi_application_answers_healthz():
    from config.asgi import application

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/healthz",
        "raw_path": b"/healthz",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }

    async def get() -> tuple[dict, dict]:
        communicator = ApplicationCommunicator(application, scope)
        await communicator.send_input({"type": "http.request", "body": b""})
        start = await communicator.receive_output(timeout=10)
        body = await communicator.receive_output(timeout=10)
        return start, body

    start, body = async_to_sync(get)()
    assert start["status"] == 200
    assert json.loads(body["body"]) == {"status": "ok"}
