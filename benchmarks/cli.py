"""`python -m benchmarks` (`make bench`): one command, every number a ratio measured in the same run.

The steps, each printed with the seconds since the start:

1. prerequisites: wrk (apt-get installs it when missing), DATABASE_URL (the operator role, on
   PostgreSQL), the web role `<operator>_web`, REDIS_URL;
2. a fresh database `<db>_bench` (dropped at the end), migrated and `seed_rbac`ed as the
   operator, then seeded with SQL set operations (benchmarks/seed.py); then the `detail` flow's
   files, uploaded through the files service as the web role (stored in the work directory);
3. gunicorn with config/gunicorn.conf.py as the web role, DEBUG off, the bench controls on;
4. the SQL probe: statements per request of each flow, and the list queries' plans;
5. tokens minted through the services (benchmarks/tasks.py), just before measuring; browser
   sessions signed in through the portal's login form over HTTP (benchmarks/browser.py);
6. the passes: every flow, in turn, under wrk; then RSS of the workers;
7. `create_tenant` timing, as the operator;
8. the results: var/bench/<UTC time>.json, latest.json, latest.md, latest.svg.

docs/performance.md explains the flows, the controls, the targets and how to read the results.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from benchmarks import browser, load, prereq, report, results, seed
from benchmarks import server as srv
from benchmarks.load import FILE_DETAIL, FLOW_NAMES, FLOWS, Flow
from benchmarks.runner import Child, RefreshPool, Run, guarded, spread
from config import env as E
from config.env import BASE_DIR

SCALES: dict[str, dict[str, int]] = {
    "full": {
        "tenants": 1000,
        "events": 1000,
        "big_events": 1_000_000,
        "create_tenants": 1000,
        "passes": 3,
        "duration": 5,
        "warmup": 1,
    },
    "small": {
        "tenants": 20,
        "events": 100,
        "big_events": 20_000,
        "create_tenants": 200,
        "passes": 3,
        "duration": 5,
        "warmup": 1,
    },
    "tiny": {
        "tenants": 3,
        "events": 20,
        "big_events": 200,
        "create_tenants": 5,
        "passes": 1,
        "duration": 1,
        "warmup": 0,
    },
}
SPREAD = 200  # at most this many tenants' users hold the tokens of one flow
BIG_SESSIONS = 16
BROWSER_TENANTS = 16  # the dashboard's browser sessions: owner, admin and member of this many tenants
FILES_PER_MEMBER = 2  # the `detail` flow's files: uploaded by the member of each tenant whose member holds a token
ACCESS_MAX_AGE_S = 10 * 60  # access tokens live 15 minutes: re-mint before that


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--scale", choices=sorted(SCALES), default="full", help="data and run size (default full)")
    p.add_argument("--tenants", type=int, help="tenants of 3 users (full: 1000)")
    p.add_argument("--events", type=int, help="audit events per tenant (full: 1000)")
    p.add_argument("--big-events", type=int, help="audit events of the big tenant (full: 1000000)")
    p.add_argument("--passes", type=int, help="passes over every flow (default 3)")
    p.add_argument("--duration", type=int, help="seconds per flow per pass (default 5)")
    p.add_argument("--warmup", type=int, help="seconds of unmeasured load before each run (default 1)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    p.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    p.add_argument("--login-connections", type=int, help="wrk connections for login (default: one per worker)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="gunicorn workers (default: cores)")
    p.add_argument("--create-tenants", type=int, help="tenant_create calls to time (full: 1000)")
    p.add_argument("--flows", help=f"comma-separated subset of {','.join(FLOW_NAMES)} (bare is always run)")
    p.add_argument("--out", default=str(BASE_DIR / "var" / "bench"), help="results directory (default var/bench)")
    p.add_argument("--db-name", help="the bench's own database (default: DATABASE_URL's name + _bench)")
    p.add_argument("--web-role", help="the role gunicorn connects as (default: the operator's name + _web)")
    p.add_argument("--keep-db", action="store_true", help="leave the bench database (and work files) behind")
    args = p.parse_args(argv)
    for key, value in SCALES[args.scale].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.login_connections = args.login_connections or args.workers
    wanted = set(FLOW_NAMES if not args.flows else args.flows.split(",")) | {"bare"}
    if "list" in wanted:
        wanted.add("stock")
    unknown = wanted - set(FLOW_NAMES)
    if unknown:
        p.error(f"unknown flows: {', '.join(sorted(unknown))}")
    args.flow_list = [f for f in FLOWS if f.name in wanted]
    return args


# --------------------------------------------------------------------------- steps


def prepare(run: Run) -> dict[str, Any]:
    """Prerequisites, the fresh database, seeding; gunicorn launched meanwhile. Returns the password check."""
    args = run.args
    run.step("prerequisites: wrk, DATABASE_URL (operator role, PostgreSQL), the web role, REDIS_URL")
    run.wrk = prereq.ensure_wrk()
    run.db = prereq.database_from(E.DATABASE_URL, name=args.db_name, web_role=args.web_role)
    prereq.check_redis(E.REDIS_URL)
    run.work.mkdir(parents=True, exist_ok=True)
    (run.work / "lines").mkdir(exist_ok=True)
    run.step(f"database {run.db.name}: (re)created by {run.db.operator}; gunicorn will connect as {run.db.web_role}")
    seed.recreate_database(run.db.maintenance_url, run.db.name, run.db.operator)
    seed.grant_web_role(run.db.operator_url, run.db.name, run.db.operator, run.db.web_role)
    run.step("migrate + seed_rbac (operator role); meanwhile `manage.py jwt_keys add` and the password hash")
    keys = run.manage("jwt_keys", "add", wait=False)
    hashing = run.start_task("hash", "--password", seed.PASSWORD, "--repeat", "5", web=False)
    run.manage("migrate", "--noinput")
    run.manage("seed_rbac")
    run.finish(keys)
    hashed: dict[str, Any] = run.finish(hashing)
    run.step(
        f"one check_password ({hashed['algorithm']}): {hashed['check_cpu_ms']} ms CPU, {hashed['check_wall_ms']} ms "
        f"wall; gunicorn: {args.workers} sync workers as {run.db.web_role}, DEBUG off, BENCH_CONTROLS=1"
    )
    run.server = srv.launch(run.env(web=True), args.workers, run.work / "gunicorn.log")
    shape = seed.Shape(tenants=args.tenants, events=args.events, big_events=args.big_events)
    run.password_hash = hashed.pop("hash")
    run.seeded = seed.seed(run.db.operator_url, shape, run.password_hash, run.step)
    seed.grant_web_role(run.db.operator_url, run.db.name, run.db.operator, run.db.web_role)
    if any(f.source == "detail" for f in args.flow_list):
        seed_files(run)
    return hashed


def seed_files(run: Run) -> None:
    """The `detail` flow's files: uploaded through the files service by each member who holds its tokens."""
    users = spread("member", SPREAD, run.args.tenants)
    spec = {"users": users, "per_user": FILES_PER_MEMBER}
    fast = {"PGOPTIONS": "-c synchronous_commit=off"}  # set-up, as the minting: no waiting for the disk
    made: dict[str, Any] = run.finish(run.start_task("seed-files", web=True, spec=spec, env=fast))
    run.files = made["files"]
    run.seeded["files (services.file_upload)"] = made["seconds"]
    run.step(
        f"seed: {made['count']} files of {len(users)} tenants through services.file_upload (web role, "
        f"{made['ms_per_file']} ms each) into {run.work / 'media'}"
    )


def detail_paths(run: Run) -> dict[str, list[str]]:
    """Per portal, the `detail` paths of its files."""
    return {slug: [FILE_DETAIL.format(file=i) for i in ids] for slug, ids in run.files.items()}


def start_probe(run: Run) -> Child:
    """SQL statements per request of each flow, and the list queries' plans (web role, in-process)."""
    first, big = seed.tenant_slug(1), seed.BIG_SLUG
    identities = {
        "admin": [seed.email("admin", first), first],
        "member": [seed.email("member", first), first],
        "big": [seed.email("admin", big), big],
        "owner": [seed.email("owner", first), first],
    }
    login = json.dumps({"email": seed.email("owner", first), "password": seed.PASSWORD, "portal": first})
    flows = []
    for flow in run.args.flow_list:
        item: dict[str, Any] = {"flow": flow.name, "method": flow.method, "path": flow.path, "expect": flow.expect}
        if flow.mode == "cookie":
            item["browser"] = "admin"
            item["path"] = flow.path.format(portal=first)
        elif flow.mode == "path_bearer":
            item["auth"] = "member"
            item["path"] = flow.path.format(file=run.files[first][0])
        elif flow.source == "api_key":
            item["api_key"] = "admin"
        elif flow.source in {"admin", "member", "big"}:
            item["auth"] = flow.source
            if flow.body is not None:
                item["body"] = flow.body
        elif flow.source == "login":
            item["body"] = login
        elif flow.source == "refresh":
            item["refresh_of"] = "owner"
        flows.append(item)
    lists = {
        "audit-events": ("/api/v1/identity/audit-events/", "identity_auditevent"),
        "members": ("/api/v1/identity/members/", "identity_membership"),
        "invitations": ("/api/v1/identity/invitations/", "identity_invitation"),
        "roles": ("/api/v1/identity/roles/", "identity_role"),
        "portals": ("/api/v1/identity/portals/", "identity_portal"),
    }
    tenants = {"admin": f"{first} ({run.args.events:,} events)", "big": f"{big} ({run.args.big_events:,} events)"}
    explain = [
        {"endpoint": name, "path": path, "table": table, "auth": who, "tenant": label}
        for name, (path, table) in lists.items()
        for who, label in tenants.items()
    ]
    run.step("SQL probe: one request per flow in a Django process as the web role; EXPLAIN of the list queries")
    spec = {"identities": identities, "password": seed.PASSWORD, "flows": flows, "explain": explain}
    return run.start_task("probe", web=True, spec=spec)


def mint_access(run: Run, pool: RefreshPool | None = None) -> dict[str, Path]:
    args, lines = run.args, run.work / "lines"
    names = ("admin", "member", "big", "detail") if run.files else ("admin", "member", "big")
    files = {name: lines / f"{name}.txt" for name in names}
    for path in files.values():
        path.unlink(missing_ok=True)
    # API keys do not expire: made once, at the first minting, and kept for every pass.
    keys = lines / "api_key.txt"
    wants_keys = any(f.source == "api_key" for f in args.flow_list) and not keys.exists()
    jobs = [
        {
            "file": str(files["admin"]),
            "kind": "access",
            "count": max(2, min(SPREAD, args.tenants)),
            "users": spread("admin", SPREAD, args.tenants),
        },
        {
            "file": str(files["member"]),
            "kind": "access",
            "count": max(2, min(SPREAD, args.tenants)),
            "users": spread("member", SPREAD, args.tenants),
        },
        {
            "file": str(files["big"]),
            "kind": "access",
            "count": BIG_SESSIONS,
            "users": [[seed.email("admin", seed.BIG_SLUG), seed.BIG_SLUG]],
        },
    ]
    if run.files:
        # `PATH token` lines: one per member and file of the member's own tenant.
        members = spread("member", SPREAD, args.tenants)
        jobs.append(
            {
                "file": str(files["detail"]),
                "kind": "access",
                "count": len(members) * FILES_PER_MEMBER,
                "users": members,
                "paths": detail_paths(run),
            }
        )
    if wants_keys:
        jobs.append(
            {
                "file": str(keys),
                "kind": "api_key",
                "count": max(2, min(SPREAD, args.tenants)),
                "users": spread("admin", SPREAD, args.tenants),
            }
        )
    first_refresh = args.warmup + args.duration  # pass 1: warm-up and measured run; later ones top up
    refresh_jobs = pool.plan(first_refresh) if pool is not None else []
    run.mint(jobs + refresh_jobs)
    run.access_minted_at = time.monotonic()
    if refresh_jobs and pool is not None:
        run.step(f"refresh pool: {pool.absorb()} single-use refresh tokens for pass 1")
    logins = lines / "login.txt"
    logins.write_text(
        "".join(
            json.dumps({"email": email, "password": seed.PASSWORD, "portal": portal}) + "\n"
            for role in ("owner", "admin", "member")
            for email, portal in spread(role, SPREAD, args.tenants)
        )
    )
    files["login"] = logins
    counts = {name: len(files[name].read_text().splitlines()) for name in names}
    if keys.exists():
        files["api_key"] = keys
    run.step(
        f"access tokens minted through services.sessions.session_start: {counts['admin']} admins, "
        f"{counts['member']} members, {counts['big']} sessions of {seed.BIG_SLUG}"
        + (f", {counts['detail']} members' `PATH token` lines for detail" if "detail" in counts else "")
        + (f"; {len(keys.read_text().splitlines())} admins' API keys (services.api_keys)" if wants_keys else "")
    )
    return files


def browser_users(args: argparse.Namespace) -> list[list[str]]:
    """Whom the dashboard flow signs in: owner, admin and member of up to BROWSER_TENANTS tenants."""
    return [u for role in ("owner", "admin", "member") for u in spread(role, BROWSER_TENANTS, args.tenants)]


def sign_in_browsers(run: Run) -> Path | None:
    """Browser sessions for the cookie flows, signed in over HTTP through the login form (server ready)."""
    if not any(f.mode == "cookie" for f in run.args.flow_list):
        return None
    assert run.server is not None
    users = browser_users(run.args)
    started = time.perf_counter()
    sessions = browser.sign_in_all(run.server.port, users, seed.PASSWORD, lanes=run.args.workers)
    path = run.work / "lines" / "dashboard.txt"
    path.write_text("".join(s.line() + "\n" for s in sessions))
    run.step(
        f"browser sessions: {len(sessions)} sign-ins through POST /portal/<slug>/login/ over HTTP in "
        f"{time.perf_counter() - started:.1f}s, each answered 200 by its dashboard"
    )
    return path


def refresh_pool(run: Run) -> RefreshPool | None:
    if not any(f.name == "refresh" for f in run.args.flow_list):
        return None
    return RefreshPool(
        run, [u for role in ("owner", "admin", "member") for u in spread(role, SPREAD, run.args.tenants)]
    )


def passes(run: Run, files: dict[str, Path], pool: RefreshPool | None) -> list[dict[str, Any]]:
    args = run.args
    assert run.server is not None
    done: list[dict[str, Any]] = []
    flows = list(args.flow_list)
    for number in range(1, args.passes + 1):
        if time.monotonic() - run.access_minted_at > ACCESS_MAX_AGE_S:
            files.update(mint_access(run))
        order = flows[(number - 1) % len(flows) :] + flows[: (number - 1) % len(flows)]
        runs = []
        for flow in order:
            runs.append(measure(run, flow, files, pool, number))
        done.append({"pass": number, "runs": runs})
    return done


def measure(run: Run, flow: Flow, files: dict[str, Path], pool: RefreshPool | None, number: int) -> dict[str, Any]:
    args = run.args
    assert run.server is not None
    connections = args.login_connections if flow.name == "login" else args.connections
    result: dict[str, Any] = {}
    later = (args.warmup + args.duration) * (args.passes - number)  # refreshing still to come after this pass
    for warming, seconds in ((True, args.warmup), (False, args.duration)):
        if seconds <= 0:
            continue
        lines = files.get(flow.source) if flow.source else None
        if flow.source == "refresh" and pool is not None:
            pool.ensure(seconds, later + (args.duration if warming else 0))
            lines = pool.write()
        result = load.run(
            wrk=run.wrk,
            flow=flow,
            server=run.server,
            dbname=run.db.name,
            lines=lines,
            threads=args.threads,
            connections=connections,
            seconds=seconds,
        )
        if flow.source == "refresh" and pool is not None:
            pool.consumed(result)
    result["pass"] = number
    if flow.name == "login":
        # The yardstick beside what it judges: Argon2's cost drifts by 10-20 % between minutes on this
        # machine, so each pass's login is compared with a check measured right after it (workers idle).
        result["check_cpu_ms"] = login_reference(run)["check_cpu_ms"]
    flags = []
    if result["unexpected_status"]:
        flags.append(f"{result['unexpected_status']} answers not {flow.expect}")
    if result["transport_errors"]:
        flags.append(f"{result['transport_errors']} socket errors")
    if result["reused_lines"] and flow.source == "refresh":
        flags.append(f"{result['reused_lines']} refresh tokens sent twice (pool ran out)")
    run.step(
        f"pass {number}/{args.passes} {flow.name:<12} {result['rps']:9.1f} req/s  p50 {result['p50_ms']:7.2f} ms  "
        f"p99 {result['p99_ms']:7.2f} ms  app {result['cpu_ms_per_req']} ms/req  "
        f"db {result['pg_cpu_ms_per_req']} ms/req" + (f"  !! {'; '.join(flags)}" if flags else "")
    )
    return result


def login_reference(run: Run) -> dict[str, Any]:
    """The login target's yardstick: one check of the seeded hash, at the login flow's concurrency, workers idle."""
    n = run.args.login_connections
    checked: dict[str, Any] = run.task(
        "hash",
        "--password",
        seed.PASSWORD,
        "--encoded",
        run.password_hash,
        "--concurrency",
        str(n),
        "--repeat",
        "10",
        web=False,
    )
    run.step(f"one check_password with {n} at once (as the login flow runs): {checked['check_cpu_ms']} ms CPU")
    return checked


def _bench(run: Run, args: argparse.Namespace) -> int:
    hash_ref = prepare(run)
    assert run.server is not None
    # The probe and the minting run while gunicorn boots: set-up, nothing is measured yet.
    probing = start_probe(run)
    pool = refresh_pool(run)
    files = mint_access(run, pool)
    probed: dict[str, Any] = run.finish(probing)
    srv.wait_ready(run.server)
    for name, seen in probed["flows"].items():
        if seen["status"] != seen["expected"]:
            run.step(f"!! probe: {name} answered {seen['status']}, expected {seen['expected']}")
    cookies = sign_in_browsers(run)
    if cookies is not None:
        files["dashboard"] = cookies
    raw = passes(run, files, pool)
    later_notes = []
    if cookies is not None:
        # wrk counts only answers >= 400: a signed-out session (302 to the login page) would pass unseen.
        lost = browser.check(run.server.port, cookies, lanes=args.workers)
        if lost:
            run.step(f"!! browser sessions: {lost} no longer answered 200 by their dashboard after the passes")
            later_notes.append(f"{lost} browser sessions no longer got their dashboard (200) after the passes")
    workers = [v for v in (srv.rss_mb(p) for p in run.server.worker_pids()) if v is not None]
    rss: dict[str, Any] = {
        "workers": workers,
        "master": srv.rss_mb(run.server.process.pid),
        "max": max(workers) if workers else None,
        "mean": round(sum(workers) / len(workers), 1) if workers else None,
    }
    run.server.stop()
    if any(f.name == "login" for f in args.flow_list):
        hash_ref["at_login_concurrency"] = report.login_pairs(raw, args.login_connections)
    run.step(f"create_tenant: {args.create_tenants} calls of services.tenants.tenant_create (operator role)")
    created: dict[str, Any] = {"count": 0}
    if args.create_tenants > 0:
        created = run.task("create-tenants", "--count", str(args.create_tenants), "--warmup", "3", web=False)
    created["django_tenants_reported_ms"] = report.DJANGO_TENANTS_REPORTED_MS
    created["django_tenants_note"] = (
        "external figure, not measured here: django-tenants creates and migrates a schema per tenant, "
        "reported at about 1 s per tenant"
    )
    names = [f.name for f in args.flow_list]
    queries = {name: probed["flows"][name]["statements"] for name in names}
    report.pass_ratios(raw)
    flows, medians = report.flows_summary(names, raw, queries)
    result: dict[str, Any] = {
        "machine": results.machine(run),
        "flows": flows,
        "scale": {
            "explain": probed["explain"],
            "statements": probed["flows"],
            "password_check": hash_ref,
            "seed_seconds": run.seeded,
            "notes": results.notes(probed) + later_notes,
        },
        "create_tenant_ms": created,
        "rss_mb": rss,
        "passes": raw,
        "targets": [],
    }
    result["targets"] = report.targets(flows, created, rss, hash_ref)
    out = results.write(run, result, medians)
    met = sum(1 for t in result["targets"] if t["met"])
    run.step(f"done: {met}/{len(result['targets'])} targets met; results in {out}/latest.json, latest.md, latest.svg")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    run = Run(args)
    run.load_before = [round(x, 2) for x in os.getloadavg()]
    return guarded(run, args, "bench", lambda: _bench(run, args))
