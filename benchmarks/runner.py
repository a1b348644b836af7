"""One run's plumbing: its clock and work directory, the Django children it starts, the refresh pool."""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from benchmarks import prereq, seed
from benchmarks import server as srv
from config import env as E
from config.env import BASE_DIR

REFRESH_GUESS_RPS = 300.0
ANALYTICS_BENCH_RATE = "1000000/min"  # per user: far above what wrk can send, so `create` never sees a 429
API_KEY_BENCH_RATE = "1000000/min"  # per key: likewise for the `api_key` flow


class Run:
    """One bench run: its clock, work directory, environments and child processes."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.started = time.perf_counter()
        self.stamp = datetime.now(tz=UTC).strftime("%Y%m%dT%H%M%SZ")
        self.out = Path(args.out).resolve()
        self.work = self.out / f"work-{self.stamp}"
        self.secret = secrets.token_urlsafe(50)
        self.db: prereq.Database
        self.server: srv.Server | None = None
        self.wrk = "wrk"
        self.seeded: dict[str, float] = {}
        self.password_hash = ""  # the one hash every seeded user has (the login target checks it again)
        self.files: dict[str, list[str]] = {}  # portal slug -> ids of the files seeded for the `detail` flow
        self.access_minted_at = 0.0
        self.load_before: list[float] = []
        self._seq = 0

    def step(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.started:7.1f}s] {message}", flush=True)

    # ------------------------------------------------------------------ child processes

    def env(self, *, web: bool) -> dict[str, str]:
        """The whole environment of a Django child: production-like, nothing else from this shell."""
        values = {
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": os.environ.get("HOME", str(self.work)),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "PYTHONPATH": str(BASE_DIR),
            "PYTHONDONTWRITEBYTECODE": "1",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": self.secret,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": self.db.web_url if web else self.db.operator_url,
            "REDIS_URL": E.REDIS_URL,
            "JWT_KEYS_DIR": str(self.work / "jwt-keys"),
            "ATRIUM_VAR_DIR": str(self.work / "var"),
            # The files the `detail` flow reads are stored here (local storage), never in the checkout.
            "MEDIA_ROOT": str(self.work / "media"),
            "PUBLIC_BASE_URL": "http://127.0.0.1",
            # Plain HTTP on loopback: production terminates TLS in front of Atrium.
            "SECURE_SSL_REDIRECT": "false",
            # Every request comes from 127.0.0.1: the per-IP limits of sign-in and refresh would
            # measure the throttle, not the endpoint. Analytics is limited per user (120/min by
            # default), and `create` sends hundreds of events a second from at most 200 members: its
            # limit is raised, not switched off, so each event still pays its counter's Redis round trip.
            "ATRIUM_THROTTLE_RATES": f"login=none,refresh=none,analytics={ANALYTICS_BENCH_RATE}",
            # The `api_key` flow sends thousands of requests a second with a few hundred keys: the per-key
            # limit is raised, not switched off, so each request still counts in its key's round trip.
            "ATRIUM_API_KEY_RATE": API_KEY_BENCH_RATE,
            "LOG_LEVEL": "INFO",
        }
        values.update({k: v for k, v in os.environ.items() if k.startswith("PG")})  # libpq's own settings
        if web:
            values["BENCH_CONTROLS"] = "1"
        return values

    def spawn(
        self, command: list[str], *, web: bool, label: str, out: Path | None = None, env: dict[str, str] | None = None
    ) -> Child:
        """Start a child in the checkout with `env(web=…)` (plus `env`), its output into `<label>.log`."""
        log = self.work / f"{label}.log"
        with open(log, "ab") as handle:
            process = subprocess.Popen(
                command, cwd=BASE_DIR, env={**self.env(web=web), **(env or {})}, stdout=handle, stderr=subprocess.STDOUT
            )
        return Child(process=process, label=label, log=log, out=out)

    def finish(self, child: Child) -> Any:
        """Wait for a child; its JSON result (tasks), or the end of its log when it failed."""
        code = child.process.wait()
        if code != 0:
            tail = "\n".join(child.log.read_text(errors="replace").splitlines()[-40:])
            raise RuntimeError(f"{child.label} failed (exit {code}); the end of {child.log}:\n{tail}")
        return json.loads(child.out.read_text()) if child.out else None

    def manage(self, *argv: str, wait: bool = True) -> Child:
        child = self.spawn([sys.executable, "manage.py", *argv], web=False, label=f"manage-{argv[0]}")
        if wait:
            self.finish(child)
        return child

    def start_task(
        self, name: str, *argv: str, web: bool, spec: dict[str, Any] | None = None, env: dict[str, str] | None = None
    ) -> Child:
        self._seq += 1
        out = self.work / f"{name}-{self._seq}.json"
        extra = []
        if spec is not None:
            spec_file = self.work / f"{name}-{self._seq}.spec.json"
            spec_file.write_text(json.dumps(spec))
            extra = ["--spec", str(spec_file)]
        command = [sys.executable, "-m", "benchmarks.tasks", name, "--out", str(out), *extra, *argv]
        return self.spawn(command, web=web, label=f"task-{name}-{self._seq}", out=out, env=env)

    def task(self, name: str, *argv: str, web: bool, spec: dict[str, Any] | None = None) -> Any:
        return self.finish(self.start_task(name, *argv, web=web, spec=spec))

    def mint(self, jobs: list[dict[str, Any]]) -> None:
        """Mint in up to one process per core (minting is set-up: its commits need not wait for the disk)."""
        if not jobs:
            return
        tokens = sum(job["count"] for job in jobs)
        # A process costs seconds to start: one per ~400 tokens, at most one per core.
        lanes = max(1, min(self.args.workers, len(jobs), math.ceil(tokens / 400)))
        groups: list[list[dict[str, Any]]] = [[] for _ in range(lanes)]
        for i, job in enumerate(jobs):
            groups[i % lanes].append(job)
        fast = {"PGOPTIONS": "-c synchronous_commit=off"}
        for child in [self.start_task("mint", web=True, spec={"jobs": group}, env=fast) for group in groups]:
            self.finish(child)


@dataclass
class Child:
    process: subprocess.Popen[bytes]
    label: str
    log: Path
    out: Path | None


def spread(role: str, count: int, tenants: int) -> list[list[str]]:
    return [[seed.email(role, seed.tenant_slug(i)), seed.tenant_slug(i)] for i in range(1, min(count, tenants) + 1)]


class RefreshPool:
    """Single-use refresh tokens: handed to wrk as a file, each thread on its own slice; used ones dropped."""

    def __init__(self, run: Run, users: list[list[str]]) -> None:
        self.run, self.users = run, users
        self.tokens: list[str] = []
        self.pending: list[Path] = []
        self.file = run.work / "lines" / "refresh.txt"
        self.best_rps: float | None = None
        self.minted = 0

    def plan(self, now: int, later: int = 0) -> list[dict[str, Any]]:
        """Mint jobs for enough unused tokens for `now` seconds of refreshing (none if there are).

        When short, and once a refresh run has measured the rate, `later` seconds are covered too;
        until then the rate is a guess and only `now` is.
        """
        rate = self.best_rps or REFRESH_GUESS_RPS
        need = math.ceil(rate * now * 1.5) + 4 * self.run.args.connections
        if len(self.tokens) >= need:
            return []
        if self.best_rps:
            need += math.ceil(self.best_rps * later * 1.5)
        lanes = max(1, min(self.run.args.workers, len(self.users)))
        per = math.ceil((need - len(self.tokens)) / lanes)
        self.pending = [self.run.work / "lines" / f"refresh-new-{self.minted}.{n}.txt" for n in range(lanes)]
        self.minted += per * lanes
        return [
            {"file": str(self.pending[n]), "kind": "refresh", "count": per, "users": self.users[n::lanes]}
            for n in range(lanes)
        ]

    def absorb(self) -> int:
        """Take in what the planned jobs minted; how many."""
        before = len(self.tokens)
        for f in self.pending:
            self.tokens += [line for line in f.read_text().splitlines() if line]
            f.unlink()
        self.pending = []
        return len(self.tokens) - before

    def ensure(self, now: int, later: int = 0) -> None:
        jobs = self.plan(now, later)
        if jobs:
            started = time.perf_counter()
            self.run.mint(jobs)
            made = self.absorb()
            self.run.step(
                f"refresh pool: minted {made} single-use refresh tokens in {time.perf_counter() - started:.1f}s "
                f"({len(self.tokens)} unused)"
            )

    def write(self) -> Path:
        self.file.write_text("".join(json.dumps({"refresh": token}) + "\n" for token in self.tokens))
        return self.file

    def consumed(self, result: dict[str, Any]) -> None:
        """Drop what each thread's slice used (flow.lua: contiguous slices, the last takes the rest)."""
        threads = result["threads"]
        count, n = len(self.tokens), len(threads)
        per = count // n if n else 0
        if per == 0:
            self.tokens = []
        else:
            kept: list[str] = []
            for i, t in enumerate(threads):
                first, last = i * per, (count if i == n - 1 else (i + 1) * per)
                kept += self.tokens[first + min(t["used"], last - first) : last]
            self.tokens = kept
        if result["seconds"]:
            self.best_rps = max(self.best_rps or 0.0, result["requests"] / result["seconds"])


def guarded(run: Run, args: argparse.Namespace, what: str, body: Callable[[], int]) -> int:
    """Run `body` (it returns the exit status), then always stop the server and drop the run's database.

    A missing prerequisite is exit 2 with its message; a crash is exit 1 with the place of the logs.
    The work directory is removed after a success only: a failed run keeps gunicorn's log.
    `make bench` and `make soak` both run this way.
    """
    status = 1
    try:
        status = body()
        return status
    except prereq.PrerequisiteMissing as missing:
        print(missing.message, file=sys.stderr, flush=True)
        status = 2
        return status
    except Exception:  # noqa: BLE001 - reported with the work directory, then the cleanup below
        traceback.print_exc()
        print(f"make {what}: failed; logs are in {run.work}", file=sys.stderr, flush=True)
        return 1
    finally:
        if run.server is not None:
            run.server.stop()
        if not args.keep_db and getattr(run, "db", None) is not None:
            try:
                seed.drop_database(run.db.maintenance_url, run.db.name)
            except psycopg.Error as exc:
                print(f"could not drop {run.db.name}: {exc}", file=sys.stderr)
        if status == 0 and not args.keep_db:
            shutil.rmtree(run.work, ignore_errors=True)
