"""The flows and one wrk run of one of them, with the server's CPU measured around it."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import server as srv

LUA = Path(__file__).with_name("flow.lua")

AUDIT = "/api/v1/identity/audit-events/"
FILE_DETAIL = "/api/v1/files/{file}/"
TRACK_BODY = '{"event": "page_view", "properties": {"path": "/x"}}'


@dataclass(frozen=True)
class Flow:
    name: str
    method: str
    path: str  # `{portal}`, `{file}` in it: each line of the flow's file names its own path (cookie, path_bearer)
    mode: str  # static | bearer | json | cookie | path_bearer
    source: str | None  # the lines file: admin, member, big, api_key, login, refresh, dashboard, detail
    expect: int
    what: str
    body: str | None = None  # mode bearer: the JSON body sent with every request (Content-Type: application/json)

    @property
    def ok_is_error(self) -> bool:
        """wrk counts a status >= 400 as a "status error"; for these flows that is the expected answer."""
        return self.expect >= 400

    @property
    def url_path(self) -> str:
        """The path of wrk's URL argument (the script sends each line's own path when the path has a `{…}`)."""
        return "/" if "{" in self.path else self.path


FLOWS: tuple[Flow, ...] = (
    Flow("bare", "GET", "/bench/bare/", "static", None, 200, "control: a plain Django view, full middleware"),
    Flow("stock", "GET", "/bench/stock/", "bearer", "admin", 200, "control: DRF ListAPIView + simplejwt, no RLS"),
    Flow("login", "POST", "/api/v1/identity/auth/login/", "json", "login", 200, "password sign-in (Argon2)"),
    Flow("refresh", "POST", "/api/v1/identity/auth/refresh/", "json", "refresh", 200, "refresh-token rotation"),
    Flow("me", "GET", "/api/v1/identity/auth/me/", "bearer", "admin", 200, "who am I"),
    Flow("list", "GET", AUDIT, "bearer", "admin", 200, "audit events page 1, many tenants"),
    Flow("list_big", "GET", AUDIT, "bearer", "big", 200, "audit events page 1, the big tenant"),
    Flow("api_key", "GET", AUDIT, "bearer", "api_key", 200, "audit events page 1 with an API key (admin role)"),
    Flow("members", "GET", "/api/v1/identity/members/", "bearer", "admin", 200, "members page 1"),
    Flow(
        "dashboard",
        "GET",
        "/portal/{portal}/dashboard/",
        "cookie",
        "dashboard",
        200,
        "the portal's dashboard page, signed in with a session cookie",
    ),
    Flow(
        "detail",
        "GET",
        FILE_DETAIL,
        "path_bearer",
        "detail",
        200,
        "a file's metadata and signed download link, as a member of its tenant",
    ),
    Flow(
        "create",
        "POST",
        "/api/v1/analytics/track/",
        "bearer",
        "member",
        201,
        "an analytics event recorded, as a member",
        body=TRACK_BODY,
    ),
    Flow("unauthorized", "GET", AUDIT, "static", None, 401, "no token on a tenant endpoint"),
    Flow("forbidden", "GET", AUDIT, "bearer", "member", 403, "a member on audit events"),
)
FLOW_NAMES = tuple(f.name for f in FLOWS)


def run(
    *,
    wrk: str,
    flow: Flow,
    server: srv.Server,
    dbname: str,
    lines: Path | None,
    threads: int,
    connections: int,
    seconds: int,
) -> dict[str, Any]:
    """One wrk run; the result with req/s, latency (ms) and CPU per request of app and database."""
    threads = max(1, min(threads, connections))
    command = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "30s",
        "-s",
        str(LUA),
        server.base_url + flow.url_path,
        "--",
        flow.mode,
        str(lines) if lines else "-",
        flow.method,
        flow.path,
        str(threads),
        flow.body or "-",
    ]
    app_before = srv.snapshot(server.pids())
    db_before = srv.snapshot(srv.postgres_backends(dbname))
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=seconds + 60)
    app_after = srv.snapshot(server.pids())
    db_after = srv.snapshot(srv.postgres_backends(dbname))
    found = [line for line in done.stdout.splitlines() if line.startswith("BENCH_JSON ")]
    if done.returncode != 0 or not found:
        raise RuntimeError(f"wrk failed for {flow.name} ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    raw = json.loads(found[-1].removeprefix("BENCH_JSON "))
    requests = raw["requests"]
    seconds_run = raw["duration_us"] / 1e6
    errors = raw["errors"]
    transport = errors["connect"] + errors["read"] + errors["write"] + errors["timeout"]
    unexpected = (requests - errors["status"]) if flow.ok_is_error else errors["status"]
    latency = raw["latency_us"]
    reused = sum(max(0, t["used"] - t["items"]) for t in raw["threads"]) if flow.mode != "static" else 0
    return {
        "flow": flow.name,
        "requests": requests,
        "seconds": round(seconds_run, 3),
        "rps": round(requests / seconds_run, 1) if seconds_run else 0.0,
        "p50_ms": round(latency["p50"] / 1000, 2),
        "p90_ms": round(latency["p90"] / 1000, 2),
        "p99_ms": round(latency["p99"] / 1000, 2),
        "mean_ms": round(latency["mean"] / 1000, 2),
        "max_ms": round(latency["max"] / 1000, 2),
        "cpu_ms_per_req": round(srv.cpu_used(app_before, app_after) * 1000 / requests, 3) if requests else None,
        "pg_cpu_ms_per_req": round(srv.cpu_used(db_before, db_after) * 1000 / requests, 3) if requests else None,
        "unexpected_status": unexpected,
        "transport_errors": transport,
        "reused_lines": reused,
        "threads": raw["threads"],
        "connections": connections,
    }
