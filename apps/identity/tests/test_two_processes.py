"""Two app servers on one database and one Redis: security state made through one holds on the other.

docs/security.md, "Faults: nothing lost": a logout, lockout, throttle, revocation
or RBAC change made through one server is honoured by the other at its next
request — no security state lives in one process. This process (the test
client) is server A; server B is a real gunicorn started on the test database
and the same Redis, signing and verifying with the same keys.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection

from apps.common.tenancy import tenant_context
from apps.identity.models import Membership, Role
from apps.identity.rbac import bump_rbac_version
from apps.identity.tests.factories import PASSWORD, UserFactory
from apps.identity.tokens import keyring
from config.env import BASE_DIR

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ME = "/api/v1/identity/auth/me/"
LOGIN = "/api/v1/identity/auth/login/"
LOGOUT = "/api/v1/identity/auth/logout/"
REFRESH = "/api/v1/identity/auth/refresh/"
MEMBERS = "/api/v1/identity/members/"
START_TIMEOUT = 60
# Both servers count the refresh scope against the same small daily allowance.
REFRESH_RATE = "3/day"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _database_url() -> str:
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Server:
    def __init__(self, base: str) -> None:
        self.base = base

    def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None
    ) -> tuple[int, dict[str, str], Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                status, head, raw = response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            status, head, raw = exc.code, dict(exc.headers), exc.read()
        return status, head, json.loads(raw) if raw else None


@pytest.fixture
def real_hashers(settings):
    # Server B hashes with the production hashers; passwords set here must verify there.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]


@pytest.fixture
def server_b(tmp_path: Path, settings, real_hashers, child_env) -> Iterator[Server]:
    keyring.signing_key()  # make sure the shared key directory holds the key B will verify with
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "refresh": REFRESH_RATE}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    port = _free_port()
    env = child_env(
        DJANGO_DEBUG="false",
        # The same secret as this process: lockout keys are keyed hashes, as in a real fleet.
        DJANGO_SECRET_KEY=settings.SECRET_KEY,
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        DATABASE_URL=_database_url(),
        REDIS_URL=settings.REDIS_URL,
        JWT_KEYS_DIR=str(settings.JWT_KEYS_DIR),
        ATRIUM_THROTTLE_RATES=f"refresh={REFRESH_RATE}",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
        MEDIA_ROOT=str(tmp_path / "media"),
        LOG_LEVEL="WARNING",
    )
    log = (tmp_path / "server-b.log").open("wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "-c",
            str(BASE_DIR / "config" / "gunicorn.conf.py"),
            "--workers",
            "1",
            "--bind",
            f"127.0.0.1:{port}",
        ],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    b = Server(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert server.poll() is None, (tmp_path / "server-b.log").read_text()[-3000:]
            try:
                if b.call("GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"server B did not answer within {START_TIMEOUT} s"
            time.sleep(0.2)
        yield b
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)
        except ProcessLookupError:
            pass
        log.close()


def test_logout_through_a_is_honoured_by_b(api, login, member, portal, server_b):
    tokens = login(member(), portal)
    assert server_b.call("GET", ME, token=tokens["access"])[0] == 200  # B verifies A's token
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert api.post(LOGOUT, {"refresh": tokens["refresh"]}).status_code == 204
    assert server_b.call("GET", ME, token=tokens["access"])[0] == 401
    assert server_b.call("POST", REFRESH, {"refresh": tokens["refresh"]})[0] == 401


def test_lockout_through_a_is_honoured_by_b(api, member, portal, server_b):
    user = member()
    body = {"email": user.email, "portal": portal.slug}
    # Both servers see this machine as 127.0.0.1: the same (account, client) pair.
    assert {api.post(LOGIN, {**body, "password": "wrong"}).status_code for _ in range(5)} == {401}
    status, headers, problem = server_b.call("POST", LOGIN, {**body, "password": PASSWORD})
    assert status == 429, problem
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert "access" not in problem


def test_throttle_through_a_is_honoured_by_b(api, server_b):
    assert [api.post(REFRESH, {"refresh": "nope"}).status_code for _ in range(3)] == [401] * 3
    status, headers, _ = server_b.call("POST", REFRESH, {"refresh": "nope"})
    assert status == 429
    assert int(headers["Retry-After"]) >= 1


def test_role_permission_change_through_a_is_honoured_by_b(login, portal, tenant, server_b):
    with tenant_context(tenant):
        role = Role.objects.create(tenant=tenant, code="auditor", name="Auditor", permissions=["identity.view_member"])
        bump_rbac_version()
        user = UserFactory()
        Membership.objects.create(user=user, tenant=tenant, role=role)
    portal.admitted_roles = [*portal.admitted_roles, "auditor"]
    portal.save()
    access = login(user, portal)["access"]
    assert server_b.call("GET", MEMBERS, token=access)[0] == 200
    # A takes the permission away (committed, then the version bump every server reads).
    with tenant_context(tenant):
        Role.objects.filter(id=role.id).update(permissions=[])
    bump_rbac_version()
    assert server_b.call("GET", MEMBERS, token=access)[0] == 403
