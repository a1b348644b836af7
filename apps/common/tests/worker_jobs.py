"""Jobs that a real `rqworker` subprocess runs in `test_jobs_worker.py`, and the helpers to start one.

The worker imports this module by the job's dotted path, so the jobs report
through Redis (a list per job), which both processes reach. Not collected as a
test module and not a conftest; it holds no asserts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import django_rq
from django.conf import settings
from django.db import connection

from apps.common.jobs import tenant_job
from apps.common.tenancy import TenantLike, current_tenant_id
from config.env import BASE_DIR

SEEN = "atrium-test:jobs:seen"  # what tenant_probe_job saw
ATTEMPTS = "atrium-test:jobs:attempts"  # one entry per run of failing_worker_job
STARTED = "atrium-test:jobs:started"  # one entry per start of sleepy_job
HORSE = "atrium-test:jobs:horse"  # the pid of the work-horse process running sleepy_job
DONE = "atrium-test:jobs:done"  # one entry per sleepy_job that ran to its end
SLEEP = "atrium-test:jobs:sleep"  # while set, sleepy_job sleeps (long enough to be killed)


def _redis() -> Any:
    return django_rq.get_connection("default")


@tenant_job(queue="default")
def tenant_probe_job(*, tenant: TenantLike | None, note: str) -> None:
    seen = {
        "note": note,
        "tenant": str(tenant.id) if tenant is not None else None,
        "context": str(current_tenant_id()) if current_tenant_id() is not None else None,
    }
    _redis().rpush(SEEN, json.dumps(seen))


@tenant_job(queue="default")  # the default retry: settings.ATRIUM_JOB_RETRY_INTERVALS
def failing_worker_job(*, note: str) -> None:
    _redis().rpush(ATTEMPTS, note)
    raise RuntimeError(f"boom in the worker: {note}")


@tenant_job(queue="default", retry=None)
def sleepy_job(*, note: str) -> None:
    redis = _redis()
    redis.set(HORSE, os.getpid())
    redis.rpush(STARTED, note)
    if redis.get(SLEEP):
        time.sleep(60)
    redis.rpush(DONE, note)


def values(key: str) -> list[str]:
    return [value.decode() for value in _redis().lrange(key, 0, -1)]


def database_url() -> str:
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def worker_env(child_env: Callable[..., dict[str, str]], tmp_path: Path) -> dict[str, str]:
    """A worker's environment: this test's database and Redis, production settings otherwise."""
    return child_env(
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=settings.SECRET_KEY,
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        DATABASE_URL=database_url(),
        REDIS_URL=settings.REDIS_URL,
        JWT_KEYS_DIR=str(settings.JWT_KEYS_DIR),
        MEDIA_ROOT=str(tmp_path / "media"),
        LOG_LEVEL="WARNING",
    )


def start_worker(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    """`manage.py rqworker default --burst ARGS` in its own session (so a test can kill it and its work-horse)."""
    return subprocess.Popen(
        [sys.executable, str(BASE_DIR / "manage.py"), "rqworker", "default", "--burst", *args],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def run_worker_process(env: dict[str, str], *args: str, timeout: float = 60) -> str:
    """Run a burst worker to the end; returns its output (it must exit 0)."""
    worker = start_worker(env, *args)
    try:
        output, _ = worker.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_worker(worker)
        raise
    text = output.decode(errors="replace")
    if worker.returncode != 0:
        raise AssertionError(f"rqworker exited {worker.returncode}:\n{text}")
    return text


def kill_worker(worker: subprocess.Popen[bytes], horse_pid: int | None = None) -> None:
    """SIGKILL the worker's process group, then its work-horse (which RQ puts in a group of its own)."""
    os.killpg(worker.pid, signal.SIGKILL)
    if horse_pid is not None:
        os.kill(horse_pid, signal.SIGKILL)
    worker.wait(timeout=10)
    if worker.stdout:
        worker.stdout.close()


def wait_for(predicate: Callable[[], bool], *, timeout: float = 30, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
