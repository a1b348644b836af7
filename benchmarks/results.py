"""What a run leaves: the description of the machine, the notes, and the files under `--out`."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg

from benchmarks import report
from benchmarks.runner import Run
from config import env as E
from config.env import BASE_DIR


def machine(run: Run) -> dict[str, Any]:
    def first_line(path: str, key: str) -> str | None:
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
        except OSError:
            return None
        return None

    def output(*command: str) -> str | None:
        try:
            done = subprocess.run(command, cwd=BASE_DIR, capture_output=True, text=True, check=False, timeout=10)
        except OSError:
            return None
        return (done.stdout or done.stderr).strip() if done.returncode == 0 else None

    memory = first_line("/proc/meminfo", "MemTotal")
    with psycopg.connect(run.db.maintenance_url, autocommit=True) as conn:
        postgres = conn.execute("SHOW server_version").fetchone()
    import redis

    redis_version = redis.Redis.from_url(E.REDIS_URL).info("server").get("redis_version")
    wrk_version = subprocess.run([run.wrk, "-v"], capture_output=True, text=True, check=False).stdout
    status = output("git", "status", "--porcelain")
    args = run.args
    return {
        "cpu_model": first_line("/proc/cpuinfo", "model name"),
        "cores": os.cpu_count(),
        "memory_gb": round(int(memory.split()[0]) / 1024 / 1024, 1) if memory else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgres": postgres[0] if postgres else None,
        "redis": redis_version,
        "wrk": (wrk_version.splitlines() or [""])[0],
        "git_commit": output("git", "rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
        "load_before": run.load_before,
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "started_utc": run.stamp,
        "scale": args.scale,
        "tenants": args.tenants,
        "events_per_tenant": args.events,
        "big_tenant_events": args.big_events,
        "passes": args.passes,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "threads": args.threads,
        "connections": args.connections,
        "login_connections": args.login_connections,
        "workers": args.workers,
        "database": run.db.name,
        "seconds_total": round(time.perf_counter() - run.started, 1),
    }


def write(run: Run, result: dict[str, Any], medians: dict[str, Any]) -> Path:
    out = run.out
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=1, default=str) + "\n"
    (out / f"{run.stamp}.json").write_text(text)
    (out / "latest.json").write_text(text)
    table = report.markdown(result, medians, run.stamp)
    (out / "latest.md").write_text(table)
    (out / "latest.svg").write_text(report.svg(result, run.stamp))
    print(table, flush=True)
    return out


def notes(probed: dict[str, Any]) -> list[str]:
    found = []
    for name, seen in probed["flows"].items():
        if seen["status"] != seen["expected"]:
            found.append(f"the probe's {name} request answered {seen['status']}, not {seen['expected']}")
    for item in probed["explain"]:
        if item.get("status") != 200 or not item.get("found"):
            found.append(
                f"{item['endpoint']} in {item['tenant']}: status {item.get('status')}, "
                f"page query {'found' if item.get('found') else 'not found'}"
            )
    return found
