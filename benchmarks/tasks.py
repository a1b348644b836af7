"""The harness's steps that run inside Django: `python -m benchmarks.tasks TASK --out FILE ...`.

The harness starts each in a child process with the environment it chose (settings module,
production-like settings, the database role). Each writes its result as JSON to `--out`.

- `hash`: one password hash for every seeded user, and the cost of one check (benchmarks/passwords.py);
  with `--encoded`, the cost of a check of that hash at `--concurrency` processes at once.
- `seed-files`: small text files uploaded through the files service (`services.file_upload`, in
  each tenant's context, as the web role), so the `detail` flow reads rows and objects the app
  itself wrote; the ids per portal go back to the harness.
- `mint`: access and refresh tokens through the services a sign-in uses
  (`selectors.admission.admitted_membership`, then `services.sessions.session_start`), not
  through HTTP; one line per token into the files the wrk scripts read (`PATH token` when the
  job names a path per portal: the `detail` flow's file of the token's own tenant). Jobs of kind
  `api_key` write tenant API keys instead (`services.api_keys.api_key_create`, role `admin`).
- `probe`: one request of each flow through Django's test client (full middleware stack, the
  web role, `DEBUG` off; the `dashboard` flow's client signs in through the portal's login form
  first and keeps its session cookie; the `api_key` flow's key is made through the service),
  counting every SQL statement sent on any connection (an `execute_wrapper` installed on each
  connection as it opens, so the durable audit writer's second connection counts too); and
  `EXPLAIN (ANALYZE, BUFFERS)` of each list endpoint's page query, run inside the request's own
  transaction, where the view has set the tenant.
- `create-tenants`: `services.tenants.tenant_create` timed call by call, as the operator role
  (as `manage.py create_tenant` runs).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import django


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


# --------------------------------------------------------------------------- hash


def task_hash(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.passwords import concurrent, reference

    if args.encoded:  # the login target's reference: the seeded hash checked at the flow's concurrency
        return concurrent(args.password, args.encoded, args.concurrency, args.repeat)
    return reference(args.password, args.repeat)


# --------------------------------------------------------------------------- mint


class Minter:
    """Starts API sessions as a sign-in would, minus the password check."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], Any] = {}

    def issue(self, email: str, portal_slug: str) -> Any:
        from apps.identity.models import Portal, User
        from apps.identity.selectors.admission import admitted_membership
        from apps.identity.services.sessions import ClientInfo, session_start

        key = (email, portal_slug)
        if key not in self._cache:
            self._cache[key] = (
                User.objects.get(email=email),
                Portal.objects.select_related("tenant").get(slug=portal_slug),
            )
        user, portal = self._cache[key]
        membership = admitted_membership(user=user, portal=portal)
        return session_start(
            user=user,
            membership=membership,
            portal=portal,
            amr=["pwd"],
            client=ClientInfo(ip="127.0.0.1", user_agent="atrium-bench"),
        )

    def api_key(self, email: str, portal_slug: str) -> str:
        """A new `admin` API key of the portal's tenant, made by `email` (an admin) through the service."""
        from apps.common.tenancy import tenant_context
        from apps.identity.models import Portal, User
        from apps.identity.services.api_keys import api_key_create

        key = (email, portal_slug)
        if key not in self._cache:
            self._cache[key] = (
                User.objects.get(email=email),
                Portal.objects.select_related("tenant").get(slug=portal_slug),
            )
        user, portal = self._cache[key]
        with tenant_context(portal.tenant):
            _, full_key = api_key_create(tenant=portal.tenant, actor=user, name="bench", role="admin", ip="127.0.0.1")
        return full_key


def task_mint(args: argparse.Namespace) -> dict[str, Any]:
    """`--spec`: `{"jobs": [{"file", "kind": "access"|"refresh"|"api_key", "count", "users": [[email, portal]]}]}`.

    A job may add `"paths": {portal: [path, ...]}`: its lines are then `PATH token`, a path of the token's own
    portal; a user's k-th line (line i, k = i // len(users)) takes the portal's path k (cycling).
    """
    minter = Minter()
    spec = json.loads(Path(args.spec).read_text())
    started, made = time.perf_counter(), 0
    for job in spec["jobs"]:
        users, paths = job["users"], job.get("paths")
        with open(job["file"], "a", encoding="ascii") as out:
            for i in range(job["count"]):
                email, portal = users[i % len(users)]
                if job["kind"] == "api_key":
                    token = minter.api_key(email, portal)
                else:
                    tokens = minter.issue(email, portal)
                    token = tokens.access if job["kind"] == "access" else tokens.refresh
                if paths is not None:
                    own = paths[portal]
                    token = f"{own[(i // len(users)) % len(own)]} {token}"
                out.write(token + "\n")
                made += 1
    seconds = time.perf_counter() - started
    return {"tokens": made, "seconds": round(seconds, 2), "ms_per_token": _ms(seconds / max(made, 1))}


# --------------------------------------------------------------------------- seed-files


def task_seed_files(args: argparse.Namespace) -> dict[str, Any]:
    """`--spec`: `{"users": [[email, portal], ...], "per_user": n}`: n small text files uploaded by each user.

    Through `services.file_upload` in the portal's tenant context, as an upload request runs it: the
    permission check, the content sniffed from the bytes, the quota, the object written to the storage
    (local: `MEDIA_ROOT`, which the harness puts in its work directory), the row and its `file.uploaded`
    audit event. Returns `{"files": {portal: [file id, ...]}, "count", "seconds", "ms_per_file"}`.
    """
    import hashlib
    import io

    from apps.common.tenancy import tenant_context
    from apps.files.services import file_upload
    from apps.files.uploads import ReceivedFile
    from apps.identity.models import Portal, User

    spec = json.loads(Path(args.spec).read_text())
    files: dict[str, list[str]] = {}
    started, made = time.perf_counter(), 0
    for email, slug in spec["users"]:
        user = User.objects.get(email=email)
        tenant = Portal.objects.select_related("tenant").get(slug=slug).tenant
        with tenant_context(tenant):
            for n in range(spec["per_user"]):
                content = f"Notes of {slug}, file {n + 1}.\n".encode() * 8
                upload = ReceivedFile(
                    io.BytesIO(content),
                    given_name=f"bench notes {n + 1}.txt",
                    content_type="text/plain",
                    size=len(content),
                    sha256=hashlib.sha256(content).hexdigest(),
                    charset=None,
                )
                file = file_upload(tenant=tenant, actor=user, upload=upload, ip="127.0.0.1")
                files.setdefault(slug, []).append(str(file.id))
                made += 1
    seconds = time.perf_counter() - started
    return {"files": files, "count": made, "seconds": round(seconds, 2), "ms_per_file": _ms(seconds / max(made, 1))}


# --------------------------------------------------------------------------- probe


class StatementCounter:
    """Counts every statement on every connection; optionally EXPLAINs the first page query of a table."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.statements: list[str] = []
        self.explain_table: str | None = None
        self.plan: dict[str, Any] | None = None

    def install(self) -> None:
        from django.db import connections
        from django.db.backends.signals import connection_created

        def attach(sender: Any, connection: Any, **kwargs: Any) -> None:
            if self not in connection.execute_wrappers:
                connection.execute_wrappers.append(self)

        connection_created.connect(attach, weak=False)
        for conn in connections.all():
            attach(None, conn)

    def reset(self, explain_table: str | None = None) -> None:
        with self._lock:
            self.statements = []
            self.explain_table, self.plan = explain_table, None

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        with self._lock:
            self.statements.append(sql)
            wanted = (
                self.explain_table is not None
                and self.plan is None
                and not many
                and sql.lstrip().upper().startswith("SELECT")
                and re.search(rf'\bFROM "{re.escape(self.explain_table)}"', sql) is not None
            )
        if wanted:
            with context["connection"].connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
                raw = cursor.fetchone()[0]
            self.plan = {"sql": sql, "plan": raw if not isinstance(raw, str) else json.loads(raw)}
        return execute(sql, params, many, context)


def plan_summary(found: dict[str, Any] | None) -> dict[str, Any]:
    if found is None:
        return {"found": False}
    top = found["plan"][0]
    nodes: list[str] = []
    indexes: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        nodes.append(node["Node Type"])
        if "Index Name" in node:
            indexes.append(node["Index Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(top["Plan"])
    plan = top["Plan"]
    hit, read = plan.get("Shared Hit Blocks", 0), plan.get("Shared Read Blocks", 0)
    return {
        "found": True,
        "node_types": nodes,
        "indexes": sorted(set(indexes)),
        "shared_hit": hit,
        "shared_read": read,
        "shared_buffers": hit + read,
        "rows": plan.get("Actual Rows"),
        "execution_ms": top.get("Execution Time"),
        "planning_ms": top.get("Planning Time"),
        "sql": found["sql"],
    }


def task_probe(args: argparse.Namespace) -> dict[str, Any]:
    """`--spec`: `{"identities": {name: [email, portal]}, "password", "flows": [...], "explain": [...]}`."""
    from django.test import Client

    spec = json.loads(Path(args.spec).read_text())
    counter = StatementCounter()
    counter.install()
    minter = Minter()
    access = {name: minter.issue(*who).access for name, who in spec["identities"].items()}
    api_keys = {
        flow["api_key"]: minter.api_key(*spec["identities"][flow["api_key"]])
        for flow in spec["flows"]
        if flow.get("api_key")
    }

    browsers: dict[str, Client] = {}

    def browser(name: str) -> Client:
        """A client signed in to the identity's portal through its login form (the session cookie kept)."""
        if name not in browsers:
            email, portal = spec["identities"][name]
            client = Client(HTTP_HOST="127.0.0.1", raise_request_exception=False)
            answer = client.post(f"/portal/{portal}/login/", {"email": email, "password": spec["password"]})
            if answer.status_code != 302:
                raise RuntimeError(f"the probe's sign-in of {email} to {portal} answered {answer.status_code}")
            browsers[name] = client
        return browsers[name]

    def request(method: str, path: str, token: str | None, body: str | None) -> int:
        client = Client(HTTP_HOST="127.0.0.1", raise_request_exception=False)  # a fresh client: no cookies
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
        if method == "GET":
            response = client.get(path, **headers)  # type: ignore[arg-type]
        else:
            response = client.post(path, data=body, content_type="application/json", **headers)  # type: ignore[arg-type]
        return response.status_code

    flows: dict[str, Any] = {}
    for flow in spec["flows"]:
        statuses = []
        for _attempt in range(2):  # the first warms the process (role map, keys); the second is counted
            body = flow.get("body")
            if flow.get("refresh_of"):
                body = json.dumps({"refresh": minter.issue(*spec["identities"][flow["refresh_of"]]).refresh})
            token = access[flow["auth"]] if flow.get("auth") else api_keys.get(flow.get("api_key", ""))
            if flow.get("browser"):
                client = browser(flow["browser"])
                counter.reset()
                statuses.append(client.generic(flow["method"], flow["path"]).status_code)
                continue
            counter.reset()
            statuses.append(request(flow["method"], flow["path"], token, body))
        flows[flow["flow"]] = {
            "status": statuses[-1],
            "expected": flow["expect"],
            "statements": len(counter.statements),
            "sql": [" ".join(s.split())[:160] for s in counter.statements],
        }

    explain: list[dict[str, Any]] = []
    for item in spec["explain"]:
        token = access[item["auth"]]
        request("GET", item["path"], token, None)  # warm
        counter.reset(explain_table=item["table"])
        status = request("GET", item["path"], token, None)
        explain.append({**item, "status": status, **plan_summary(counter.plan)})
        counter.reset()
    return {"flows": flows, "explain": explain}


# --------------------------------------------------------------------------- create-tenants


def task_create_tenants(args: argparse.Namespace) -> dict[str, Any]:
    import django_rq
    from django.conf import settings

    from apps.identity.services.tenants import tenant_create

    times: list[float] = []
    for i in range(args.warmup + args.count):
        slug = f"{args.prefix}-{i:05d}"
        started = time.perf_counter()
        tenant_create(slug=slug, name=f"New tenant {i}", owner_email=f"owner@{slug}.bench.test")
        if i >= args.warmup:
            times.append((time.perf_counter() - started) * 1000)
    # The owners' set-password mails went to the bench's Redis database; nobody will send them.
    for name in settings.RQ_QUEUES:
        django_rq.get_queue(name).empty()
    if not times:
        return {"count": 0, "warmup": args.warmup}
    return {
        "count": len(times),
        "warmup": args.warmup,
        "median": round(statistics.median(times), 3),
        "p95": round(percentile(times, 95), 3),
        "mean": round(statistics.fmean(times), 3),
        "min": round(min(times), 3),
        "max": round(max(times), 3),
    }


TASKS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "hash": task_hash,
    "mint": task_mint,
    "seed-files": task_seed_files,
    "probe": task_probe,
    "create-tenants": task_create_tenants,
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tasks")
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("--out", required=True)
    parser.add_argument("--spec")
    parser.add_argument("--password")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--encoded", help="hash: check this hash at --concurrency instead of making one")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--prefix", default="bench-new")
    args = parser.parse_args()
    django.setup()
    result = TASKS[args.task](args)
    Path(args.out).write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
