"""`make soak` (`python -m benchmarks.soak`): minutes of saturation; no errors, no memory creeping up.

The bench's own set-up (benchmarks/cli.py: a fresh `<db>_soak` database, seeded, gunicorn as the
web role with DEBUG off, tokens minted through the services), then the `list`, `me`, `detail`
and `create` flows all at once, each under its own wrk, for `--minutes` (default `SOAK_MINUTES`,
else 5). The load runs in slices of `--interval` seconds (default 10); in the middle of each
slice the RSS of every gunicorn worker is read from /proc, and a progress line is printed.

At the end: requests, non-2xx answers and socket errors (must be 0), RSS per worker
(first after warm-up, last, max, growth) and the exit status: 1 when any request failed,
a worker died, or a worker's RSS grew more than `--max-growth` % (default `SOAK_MAX_GROWTH`,
else 10) between the end of the warm-up and the end; 2 when a prerequisite is missing.
Results go to `<out>/soak.json` and `<out>/soak.svg` (default var/bench). The soak's
database is dropped at the end, as the bench's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchmarks import cli, load, runner, soak_report
from benchmarks import server as srv
from benchmarks.load import FLOWS, Flow
from benchmarks.runner import Run
from config import env as E
from config.env import BASE_DIR

SOAK_FLOWS = ("list", "me", "detail", "create")


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.soak",
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--minutes", type=float, default=_env_number("SOAK_MINUTES", 5), help="default SOAK_MINUTES or 5")
    p.add_argument("--seconds", type=int, help="the soak's length in seconds (overrides --minutes)")
    p.add_argument("--interval", type=int, default=10, help="seconds between RSS samples (default 10)")
    p.add_argument("--warmup", type=float, help="seconds before RSS growth counts (default: 20%% of it, at most 60)")
    p.add_argument(
        "--max-growth",
        type=float,
        default=_env_number("SOAK_MAX_GROWTH", 10),
        help="RSS growth allowed per worker after warm-up, in %% (default SOAK_MAX_GROWTH or 10)",
    )
    p.add_argument("--scale", choices=sorted(cli.SCALES), default="small", help="seeded data (default small)")
    p.add_argument("--connections", type=int, default=16, help="wrk connections, shared by the flows (default 16)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="gunicorn workers (default: cores)")
    p.add_argument("--out", default=str(BASE_DIR / "var" / "bench"), help="results directory (default var/bench)")
    p.add_argument("--db-name", help="the soak's own database (default: DATABASE_URL's name + _soak)")
    p.add_argument("--web-role", help="the role gunicorn connects as (default: the operator's name + _web)")
    p.add_argument("--keep-db", action="store_true", help="leave the soak database (and work files) behind")
    args = p.parse_args(argv)
    args.total = args.seconds if args.seconds is not None else round(args.minutes * 60)
    if args.total < 1 or args.interval < 1:
        p.error("the soak needs at least one second and an interval of at least one second")
    if args.warmup is None:
        args.warmup = min(60.0, args.total * 0.2)
    return args


def bench_args(args: argparse.Namespace) -> argparse.Namespace:
    """The bench's own options for the set-up it does for us (database, seed, gunicorn, tokens)."""
    db_name = args.db_name or unquote_name(E.DATABASE_URL) + "_soak"
    argv = ["--scale", args.scale, "--flows", ",".join(SOAK_FLOWS), "--out", args.out, "--db-name", db_name]
    argv += ["--workers", str(args.workers), "--connections", str(args.connections), "--create-tenants", "0"]
    if args.web_role:
        argv += ["--web-role", args.web_role]
    if args.keep_db:
        argv.append("--keep-db")
    return cli.parse(argv)


def unquote_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "atrium"


def _run_flow(
    run: Run, flow: Flow, files: dict[str, Path], seconds: int, connections: int, into: dict[str, Any]
) -> None:
    assert run.server is not None
    try:
        into[flow.name] = load.run(
            wrk=run.wrk,
            flow=flow,
            server=run.server,
            dbname=run.db.name,
            lines=files.get(flow.source) if flow.source else None,
            threads=1,
            connections=connections,
            seconds=seconds,
        )
    except Exception as exc:  # noqa: BLE001 - reported by the slice as this flow's failure
        into[flow.name] = exc


def drive(run: Run, args: argparse.Namespace, files: dict[str, Path]) -> dict[str, Any]:
    """Every soak flow at once, in slices; RSS of each worker in the middle of each slice."""
    assert run.server is not None
    flows = [f for f in FLOWS if f.name in SOAK_FLOWS]
    per_flow = max(1, args.connections // len(flows))
    totals = {f.name: {"requests": 0, "unexpected_status": 0, "transport_errors": 0} for f in flows}
    samples: list[soak_report.Sample] = []
    slices: list[dict[str, Any]] = []  # each slice's req/s and p99 (ms) per flow: throughput over time
    started = time.monotonic()
    elapsed = 0.0
    while elapsed < args.total - 0.5:
        if time.monotonic() - run.access_minted_at > cli.ACCESS_MAX_AGE_S:
            files.update(cli.mint_access(run))  # access tokens live 15 minutes: fresh ones for long soaks
        seconds = max(1, min(args.interval, round(args.total - elapsed)))
        results: dict[str, Any] = {}
        threads = [
            threading.Thread(target=_run_flow, args=(run, f, files, seconds, per_flow, results), daemon=True)
            for f in flows
        ]
        for thread in threads:
            thread.start()
        time.sleep(seconds / 2)
        rss = {pid: mb for pid in run.server.worker_pids() if (mb := srv.rss_mb(pid)) is not None}
        samples.append(soak_report.Sample(t=round(time.monotonic() - started, 1), rss=rss))
        for thread in threads:
            thread.join(timeout=seconds + 90)
        failed = [f"{name}: {res}" for name, res in results.items() if isinstance(res, Exception)]
        if failed or len(results) < len(flows):
            raise RuntimeError("wrk failed during the soak:\n" + "\n".join(failed or ["a wrk did not finish"]))
        rps = 0.0
        for name, res in results.items():
            for key in totals[name]:
                totals[name][key] += res[key]
            rps += res["rps"]
        slices.append(
            {
                "t": samples[-1].t,
                "rps": {name: res["rps"] for name, res in results.items()},
                "p99_ms": {name: res["p99_ms"] for name, res in results.items()},
                "load": round(os.getloadavg()[0], 2),
            }
        )
        elapsed = time.monotonic() - started
        done = sum(t["requests"] for t in totals.values())
        errors = sum(t["unexpected_status"] + t["transport_errors"] for t in totals.values())
        run.step(
            f"soak {elapsed:6.0f}/{args.total}s  {rps:8.1f} req/s  {done:,} requests  {errors} errors  "
            f"RSS {' '.join(f'{mb:.1f}' for mb in rss.values())} MB"
        )
    return {"flows": totals, "samples": samples, "slices": slices, "seconds": round(time.monotonic() - started, 1)}


def summarise(args: argparse.Namespace, driven: dict[str, Any]) -> dict[str, Any]:
    samples: list[soak_report.Sample] = driven["samples"]
    totals = driven["flows"]
    requests = sum(t["requests"] for t in totals.values())
    errors = sum(t["unexpected_status"] + t["transport_errors"] for t in totals.values())
    workers = soak_report.worker_rss(samples, args.warmup)
    replaced = soak_report.replaced_workers(samples)
    failures = soak_report.verdict(
        requests=requests, errors=errors, workers=workers, replaced=replaced, max_growth_pct=args.max_growth
    )
    return {
        "seconds": driven["seconds"],
        "requests": requests,
        "rps": round(requests / driven["seconds"], 1) if driven["seconds"] else 0.0,
        "errors": errors,
        "flows": totals,
        "workers": workers,
        "workers_replaced": replaced,
        "warmup_s": args.warmup,
        "max_growth_pct": args.max_growth,
        "interval_s": args.interval,
        "connections": args.connections,
        "scale": args.scale,
        "samples": [{"t": s.t, "rss_mb": {str(pid): mb for pid, mb in s.rss.items()}} for s in samples],
        "slices": driven["slices"],
        "load_before": driven["load_before"],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "failures": failures,
        "passed": not failures,
    }


def write(run: Run, result: dict[str, Any], samples: list[soak_report.Sample]) -> Path:
    out = run.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "soak.json").write_text(json.dumps(result, indent=1) + "\n")
    title = f"make soak {run.stamp}: {result['seconds']:g}s, {result['requests']:,} requests, {result['errors']} errors"
    (out / "soak.svg").write_text(
        soak_report.svg(samples, warmup_s=result["warmup_s"], max_growth_pct=result["max_growth_pct"], title=title)
    )
    return out


def report_lines(result: dict[str, Any]) -> list[str]:
    lines = [
        f"soak: {result['seconds']:g}s, {result['requests']:,} requests ({result['rps']} req/s), "
        f"{result['errors']} non-2xx or socket errors, {result['workers_replaced']} workers replaced",
    ]
    for name, t in result["flows"].items():
        lines.append(
            f"  {name:<8} {t['requests']:>9,} requests  {t['unexpected_status']} unexpected status  "
            f"{t['transport_errors']} socket errors"
        )
    lines.append(
        f"  RSS per worker after {result['warmup_s']:g}s warm-up (allowed growth {result['max_growth_pct']:g}%):"
    )
    for w in result["workers"]:
        lines.append(
            f"  pid {w['pid']:<8} first {w['first_mb']:7.1f} MB  last {w['last_mb']:7.1f} MB  "
            f"max {w['max_mb']:7.1f} MB  growth {w['growth_pct']}%"
        )
    settled = [s for s in result["slices"] if s["t"] >= result["warmup_s"]] or result["slices"]
    if settled:
        first, last = (round(sum(s["rps"].values()), 1) for s in (settled[0], settled[-1]))
        lines.append(
            f"  throughput after warm-up: {first} req/s in the first slice, {last} in the last "
            f"(not judged; load average {result['load_before'][0]} before, {result['load_after'][0]} after)"
        )
    lines += [f"  FAIL: {why}" for why in result["failures"]] or ["  PASS"]
    return lines


def _soak(run: Run, args: argparse.Namespace) -> int:
    run.step(
        f"soak: {args.total}s of {', '.join(SOAK_FLOWS)} at once, {args.connections} connections, "
        f"{args.workers} workers; RSS every {args.interval}s, warm-up {args.warmup:g}s"
    )
    cli.prepare(run)
    assert run.server is not None
    files = cli.mint_access(run)
    srv.wait_ready(run.server)
    load_before = [round(x, 2) for x in os.getloadavg()]
    driven = drive(run, args, files)
    driven["load_before"] = load_before
    result = summarise(args, driven)
    out = write(run, result, driven["samples"])
    for line in report_lines(result):
        print(line, flush=True)
    run.step(f"results in {out}/soak.json and soak.svg" + ("" if result["passed"] else f"; logs in {run.work}"))
    return 0 if result["passed"] else 1  # a failed soak keeps its work directory (gunicorn's log)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    setup = bench_args(args)
    run = Run(setup)
    return runner.guarded(run, setup, "soak", lambda: _soak(run, args))


if __name__ == "__main__":
    sys.exit(main())
