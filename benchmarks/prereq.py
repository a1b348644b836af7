"""What `make bench` needs before it starts, checked (and `wrk` installed) up front with a clear way out.

- `wrk`, the load generator: installed with `apt-get install -y wrk` when missing (Debian and
  Ubuntu package it); without apt, or without root, the run stops and says what to do.
- PostgreSQL: `DATABASE_URL` names the **operator** role (migrations, seeding), as for every
  management command; the web role is `<operator>_web` (scripts/db/create-app-role.sh), which
  gunicorn connects as, like production.
- Redis: `REDIS_URL`, which production requires too.

The variables are read through `config.env`, the one reader of the environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import psycopg


class PrerequisiteMissing(Exception):
    """Stops the run (exit status 2) with a message that says what to do."""

    def __init__(self, message: str) -> None:
        self.message = f"make bench: {message}"
        super().__init__(self.message)


def say(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------- wrk


def ensure_wrk() -> str:
    """The path of `wrk`, installed through apt when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    what_to_do = (
        "install wrk yourself (Debian/Ubuntu: `sudo apt-get install -y wrk`; macOS: `brew install wrk`; "
        "or build https://github.com/wg/wrk) and put it on PATH, then rerun `make bench`."
    )
    if apt is None:
        raise PrerequisiteMissing(f"`wrk` is not installed and there is no apt-get to install it: {what_to_do}")
    # Root runs apt-get itself; anyone else only through a sudo that asks no password (CI runners).
    sudo = [] if os.geteuid() == 0 else [shutil.which("sudo") or "", "-n", "env", "DEBIAN_FRONTEND=noninteractive"]
    if sudo and (not sudo[0] or subprocess.run([*sudo[:2], "true"], capture_output=True, check=False).returncode):
        raise PrerequisiteMissing(
            f"`wrk` is not installed, and installing it with apt-get needs root or a password-less sudo: {what_to_do}"
        )
    say(
        f"==> wrk is missing: installing it with `{'sudo ' if sudo else ''}apt-get install -y wrk` (Debian package wrk)"
    )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*sudo, apt, "install", "-y", "--no-install-recommends", "wrk"]
    if subprocess.run(install, env=env, check=False).returncode != 0:
        say("==> apt-get install failed; refreshing the package lists (apt-get update) and trying once more")
        subprocess.run([*sudo, apt, "update"], env=env, check=False)
        if subprocess.run(install, env=env, check=False).returncode != 0:
            raise PrerequisiteMissing(f"`apt-get install -y wrk` failed (see above): {what_to_do}")
    found = shutil.which("wrk")
    if not found:
        raise PrerequisiteMissing(f"apt-get installed wrk but it is not on PATH: {what_to_do}")
    return found


# --------------------------------------------------------------------------- databases


@dataclass(frozen=True)
class Database:
    """The operator's URL (as given) and the bench's own database, reached as the operator or the web role."""

    url: str  # DATABASE_URL as given: the operator role, on the database it names
    name: str  # the bench's own database, created and dropped by the harness
    web_role: str

    def _with(self, *, user: str | None = None, dbname: str | None = None, keep_password: bool = True) -> str:
        parts = urlsplit(self.url)
        login = unquote(parts.username or "")
        password = parts.password if keep_password else None
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = quote(user if user is not None else login, safe="")
        if password:
            netloc += ":" + quote(unquote(password), safe="")
        netloc += "@" + host + (f":{parts.port}" if parts.port else "")
        path = "/" + quote(dbname if dbname is not None else self.maintenance_db)
        return urlunsplit(("postgres", netloc, path, parts.query, ""))  # libpq options (sslmode=…) kept

    @property
    def operator(self) -> str:
        return unquote(urlsplit(self.url).username or "")

    @property
    def maintenance_db(self) -> str:
        return unquote(urlsplit(self.url).path.lstrip("/"))

    @property
    def operator_url(self) -> str:
        """The operator role on the bench database (migrate, seed_rbac, seeding, create_tenant)."""
        return self._with(dbname=self.name)

    @property
    def web_url(self) -> str:
        """The web role on the bench database (gunicorn, token minting, the SQL probe).

        No password is carried over from DATABASE_URL: the web role authenticates as the
        server allows (trust, peer, `~/.pgpass` or `PGPASSWORD`), as scripts/db/create-app-role.sh sets none.
        """
        return self._with(user=self.web_role, dbname=self.name, keep_password=False)

    @property
    def maintenance_url(self) -> str:
        return self._with()


def database_from(url: str, *, name: str | None, web_role: str | None) -> Database:
    """Check DATABASE_URL names PostgreSQL and the roles are as create-app-role.sh makes them."""
    if not url.startswith(("postgres://", "postgresql://", "pgsql://")):
        raise PrerequisiteMissing(
            "DATABASE_URL must name PostgreSQL as the operator role, e.g. "
            "DATABASE_URL=postgres://atrium@127.0.0.1:5432/atrium (create the roles with "
            "scripts/db/create-app-role.sh atrium atrium). It is "
            + (
                "unset (the embedded SQLite default)."
                if not url or url.startswith("sqlite")
                else f"{urlsplit(url).scheme}://…"
            )
        )
    parts = urlsplit(url)
    if not parts.username or not parts.path.strip("/"):
        raise PrerequisiteMissing(
            "DATABASE_URL must name the operator role and a database: postgres://ROLE@HOST:PORT/DB"
        )
    base = Database(url=url, name="", web_role="")
    db = Database(
        url=url,
        name=name or f"{base.maintenance_db}_bench",
        web_role=web_role or f"{base.operator}_web",
    )
    if db.name == db.maintenance_db:
        raise PrerequisiteMissing(f"the bench database must not be DATABASE_URL's own ({db.name}): it is dropped")
    try:
        with psycopg.connect(db.maintenance_url, autocommit=True, connect_timeout=5) as conn:
            row = conn.execute(
                "SELECT rolcreatedb, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
            web = conn.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", [db.web_role]).fetchone()
    except psycopg.Error as exc:
        raise PrerequisiteMissing(f"cannot connect with DATABASE_URL ({type(exc).__name__}: {exc})".strip()) from exc
    assert row is not None
    createdb, superuser, bypass = row
    if superuser or bypass:
        raise PrerequisiteMissing(
            f"DATABASE_URL's role {db.operator!r} is a superuser or BYPASSRLS, which skips row-level security: "
            "use the operator role made by scripts/db/create-app-role.sh."
        )
    if not createdb:
        raise PrerequisiteMissing(
            f"the operator role {db.operator!r} lacks CREATEDB, which the bench needs for its own database "
            f"{db.name!r}: rerun scripts/db/create-app-role.sh {db.operator} {db.maintenance_db}."
        )
    if not web or not web[0]:
        raise PrerequisiteMissing(
            f"there is no login role {db.web_role!r} for gunicorn: run "
            f"scripts/db/create-app-role.sh {db.operator} {db.maintenance_db} (it makes both roles)."
        )
    return db


def check_redis(url: str) -> None:
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise PrerequisiteMissing(
            "REDIS_URL must name the bench's Redis database, e.g. REDIS_URL=redis://127.0.0.1:6379/9 "
            "(production requires Redis; the bench serves like production). It is "
            + ("unset." if not url else "not a redis://, rediss:// or unix:// URL.")
        )
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        raise PrerequisiteMissing(f"cannot reach REDIS_URL ({type(exc).__name__}: {exc})") from exc
