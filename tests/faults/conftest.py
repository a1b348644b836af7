"""Fixtures of the fault tests: a Redis this test owns, and may kill and start again.

`fault_redis` starts `redis-server --save '' --appendonly no` on a free port
and points the app's cache, its RQ queues and `REDIS_URL` (what a worker the
test starts is given) at it, as `config.settings` would for that REDIS_URL.
The test kills it with `fault_redis.kill()` (SIGKILL: data lost) and brings it
back, empty, with `fault_redis.start()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

from tests.faults.servers import RedisServer, redis_settings


@pytest.fixture
def fault_redis(tmp_path: Path, child_env) -> Iterator[RedisServer]:  # type: ignore[no-untyped-def]
    scratch = tmp_path / "redis"
    scratch.mkdir()
    server = RedisServer(scratch, child_env())
    server.start()
    try:
        with override_settings(**redis_settings(server.url(), settings.RQ_QUEUES)):
            yield server
    finally:
        server.kill()


@pytest.fixture
def admin_api(api_client, member, portal):  # type: ignore[no-untyped-def]
    """An APIClient signed in as an admin of `tenant` (request `fault_redis` first to sign in on it)."""
    return api_client(member("admin"), portal)
