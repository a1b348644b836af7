"""The bench's database: created fresh each run, filled with SQL set operations, dropped at the end.

Everything here runs as the **operator** role (it owns the database and the tables and is the
one role that may lift row-level security, `app.bypass_rls`), on the bench's own database:

- N tenants (`bench-00001` …), each with a default portal and three active members
  (`owner@`, `admin@`, `member@<slug>.bench.test`), all with one known password hash;
- E audit events per tenant, interleaved in time across tenants (one second apart, so a
  tenant's newest page is spread over many heap pages, as real traffic leaves it);
- one big tenant (`bench-big`) with B events, spread over the same span;
- `seq` runs 1…E in every stream and each stream's `AuditHead` holds its count and last
  hash, so the audit service appends to the seeded streams as to real ones. The hashes are
  placeholders (sha256 of tenant and seq), so `verify_audit_chain` would reject these rows;
  nothing on the measured paths reads them;
- `bench_stock_auditrow`: the stock control's copy of the audit rows, without row-level
  security, indexed on `(tenant_id, seq DESC)`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import sql

BIG_SLUG = "bench-big"
PASSWORD = "atrium-bench-password-1"  # noqa: S105 - a throw-away database's users


def tenant_slug(n: int) -> str:
    return f"bench-{n:05d}"


def email(role: str, slug: str) -> str:
    return f"{role}@{slug}.bench.test"


@dataclass(frozen=True)
class Shape:
    tenants: int
    events: int
    big_events: int


def recreate_database(maintenance_url: str, name: str, owner: str) -> None:
    """Drop the bench database if a previous run left it, and create it, owned by the operator."""
    ident = sql.Identifier(name)
    with psycopg.connect(maintenance_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(ident, sql.Identifier(owner)))


def grant_web_role(operator_url: str, name: str, owner: str, web_role: str) -> None:
    """The web role's grants of scripts/db/create-app-role.sh, inside the bench database, made by its owner.

    Default privileges cover every table, sequence and function that migrate and the seeding create next.
    """
    op, web, db = sql.Identifier(owner), sql.Identifier(web_role), sql.Identifier(name)
    statements: list[sql.SQL | sql.Composed] = [
        sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"),
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, web),
        sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(web),
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}").format(web),
        sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(web),
        sql.SQL("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {}").format(web),
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}"
        ).format(op, web),
        sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {}").format(
            op, web
        ),
        sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC").format(op),
        sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public GRANT EXECUTE ON FUNCTIONS TO {}").format(
            op, web
        ),
    ]
    with psycopg.connect(operator_url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def drop_database(maintenance_url: str, name: str) -> None:
    with psycopg.connect(maintenance_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# --------------------------------------------------------------------------- the rows

_TENANTS = """
CREATE TEMP TABLE bench_t AS
SELECT n, gen_random_uuid() AS id,
       CASE WHEN n = 0 THEN %(big_slug)s ELSE 'bench-' || lpad(n::text, 5, '0') END AS slug
FROM generate_series(0, %(tenants)s) AS n;
INSERT INTO identity_tenant (id, created_at, updated_at, slug, name, status, tier, region, plan_code,
                             subscription_status)
SELECT id, now() - interval '400 days', now(), slug, 'Bench ' || slug, 'active', 'pooled', 'eu-west-1', 'pro',
       'active'
FROM bench_t;
INSERT INTO identity_portal (id, created_at, updated_at, slug, name, active, is_default, theme, admitted_roles,
                             signup_policy, mfa_required, features, tenant_id)
SELECT gen_random_uuid(), now() - interval '400 days', now(), slug, 'Bench ' || slug, true, true,
       '{"primary_color": "#3b5bdb", "logo_url": ""}', '["owner", "admin", "member"]', 'invite', false, '{}', id
FROM bench_t;
"""

_USERS = """
CREATE TEMP TABLE bench_u AS
SELECT t.n, t.id AS tenant_id, t.slug, r.code, r.id AS role_id, r.ord, gen_random_uuid() AS user_id
FROM bench_t t
CROSS JOIN (SELECT id, code, array_position(ARRAY['owner', 'admin', 'member']::text[], code::text) AS ord
            FROM identity_role WHERE tenant_id IS NULL AND code IN ('owner', 'admin', 'member')) r;
INSERT INTO identity_user (password, last_login, id, created_at, updated_at, email, name, email_verified, is_active)
SELECT %(password)s, NULL, user_id, now() - interval '400 days', now(), code || '@' || slug || '.bench.test',
       initcap(code) || ' of ' || slug, true, true
FROM bench_u;
INSERT INTO identity_membership (id, created_at, updated_at, status, user_id, role_id, tenant_id)
SELECT gen_random_uuid(), now() - interval '400 days' + ord * interval '1 minute', now(), 'active', user_id, role_id,
       tenant_id
FROM bench_u;
"""

# One row per (seq, tenant), inserted in time order across tenants, so a tenant's rows are spread over the
# heap as interleaved traffic leaves them. Event `s` of tenant `n` happened `spacing * (count - s) + offset * n`
# seconds before `t_end`: for the N tenants, spacing N and offset 1 put them one second apart, round-robin.
_EVENTS = """
INSERT INTO identity_auditevent (id, created_at, updated_at, seq, action, actor_id, actor_email, target_type,
                                 target_id, ip, data, prev_hash, hash, tenant_id)
SELECT gen_random_uuid(), e.at, e.at, e.seq,
       (ARRAY['auth.login', 'member.role_changed', 'portal.updated', 'invitation.created', 'auth.logout'])
           [1 + e.seq %% 5],
       e.user_id, e.code || '@' || e.slug || '.bench.test', 'session', md5(e.tenant_id::text || e.seq),
       ('10.' || (e.seq %% 250) || '.' || (e.n %% 250) || '.7')::inet,
       jsonb_build_object('portal', e.slug, 'amr', jsonb_build_array('pwd')),
       CASE WHEN e.seq = 1 THEN repeat('0', 64)
            ELSE encode(sha256(convert_to(e.tenant_id::text || ':' || (e.seq - 1), 'UTF8')), 'hex') END,
       encode(sha256(convert_to(e.tenant_id::text || ':' || e.seq, 'UTF8')), 'hex'),
       e.tenant_id
FROM (
    SELECT s AS seq, o.*,
           %(t_end)s::timestamptz - make_interval(secs => %(spacing)s * (%(count)s - s) + %(offset)s * o.n) AS at
    FROM generate_series(1, %(count)s) AS s
    CROSS JOIN (SELECT * FROM bench_u WHERE code = 'owner' AND {which}) AS o
) AS e
ORDER BY e.at;
"""

_HEADS = """
INSERT INTO identity_audithead (stream, count, last_hash)
SELECT 'tenant:' || t.id, CASE WHEN t.n = 0 THEN %(big)s ELSE %(events)s END,
       encode(sha256(convert_to(t.id::text || ':' || CASE WHEN t.n = 0 THEN %(big)s ELSE %(events)s END, 'UTF8')),
              'hex')
FROM bench_t t
WHERE (t.n = 0 AND %(big)s > 0) OR (t.n > 0 AND %(events)s > 0);
"""

_STOCK = """
CREATE TABLE bench_stock_auditrow AS
SELECT id, tenant_id, seq, action, actor_id, actor_email, target_type, target_id, ip, data, created_at
FROM identity_auditevent;
ALTER TABLE bench_stock_auditrow ADD PRIMARY KEY (id);
CREATE INDEX bench_stock_auditrow_tenant_seq ON bench_stock_auditrow (tenant_id, seq DESC);
"""

_VACUUMED = (
    "identity_tenant",
    "identity_portal",
    "identity_user",
    "identity_membership",
    "identity_auditevent",
    "identity_audithead",
    "identity_role",
    "bench_stock_auditrow",
)


def seed(operator_url: str, shape: Shape, password_hash: str, step: Callable[[str], None]) -> dict[str, float]:
    """Fill the migrated bench database; `step(message)` prints progress. Returns seconds per step."""
    took: dict[str, float] = {}
    with psycopg.connect(operator_url, autocommit=True, cursor_factory=psycopg.ClientCursor) as conn:
        # The operator's bypass (ADR 0008) for this session: the tenant tables are FORCEd.
        conn.execute("SELECT set_config('app.bypass_rls', 'on', false)")
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '256MB'")
        row = conn.execute("SELECT now() - interval '1 hour'").fetchone()
        assert row is not None
        t_end, n = row[0], shape.tenants
        span = max(1, n) * max(1, shape.events)  # seconds covered by the tenants' events
        steps: list[tuple[str, str, dict[str, object]]] = [
            (f"{n:,} tenants and the big one, with default portals", _TENANTS, {"tenants": n, "big_slug": BIG_SLUG}),
            (f"{3 * (n + 1):,} users and memberships", _USERS, {"password": password_hash}),
        ]
        if shape.events:
            steps.append(
                (
                    f"{n * shape.events:,} audit events ({shape.events:,} per tenant, interleaved in time)",
                    _EVENTS.format(which="n > 0"),
                    {"t_end": t_end, "count": shape.events, "spacing": float(n), "offset": 1.0},
                )
            )
        if shape.big_events:
            steps.append(
                (
                    f"{shape.big_events:,} audit events of {BIG_SLUG}",
                    _EVENTS.format(which="n = 0"),
                    {"t_end": t_end, "count": shape.big_events, "spacing": span / shape.big_events, "offset": 0.0},
                )
            )
        steps += [
            ("audit heads (count and last hash per stream)", _HEADS, {"big": shape.big_events, "events": shape.events}),
            ("stock control table bench_stock_auditrow", _STOCK, {}),
        ]
        for label, query, params in steps:
            started = time.perf_counter()
            conn.execute(query, params or None)
            took[label] = round(time.perf_counter() - started, 2)
            step(f"seed: {label}: {took[label]:.1f}s")
        started = time.perf_counter()
        for table in _VACUUMED:
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
        took["vacuum analyze"] = round(time.perf_counter() - started, 2)
        step(f"seed: VACUUM (ANALYZE): {took['vacuum analyze']:.1f}s")
    return took
