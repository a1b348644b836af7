"""Refresh rotation under a race, what a refused refresh leaves in the audit trail, and accounts that go away
while their tokens are alive."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from apps.common.tenancy import tenant_context, unscoped
from apps.identity.models import AuditEvent, AuthSession, Membership, User
from apps.identity.services.accounts import user_deactivate
from apps.identity.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

REFRESH = "/api/v1/identity/auth/refresh/"
ME = "/api/v1/identity/auth/me/"


def _refresh_in_parallel(raw: str, n: int) -> list[int]:
    barrier = threading.Barrier(n)
    statuses: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        client = APIClient(REMOTE_ADDR=f"10.9.0.{threading.get_ident() % 200 + 1}")
        barrier.wait(timeout=10)
        try:
            status = client.post(REFRESH, {"refresh": raw}).status_code
        finally:
            connection.close()
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return statuses


@pytest.mark.postgres
def test_twenty_parallel_refreshes_of_one_token_yield_exactly_one_success(login, member, portal):
    tokens = login(member(), portal)
    statuses = _refresh_in_parallel(tokens["refresh"], 20)
    assert len(statuses) == 20
    assert statuses.count(200) == 1, statuses
    assert set(statuses) <= {200, 401}


RACE_SCRIPT = """
import json, threading
import django
django.setup()
from django.core.management import call_command
from django.db import connection
from django.test import Client
from apps.identity.tests.factories import PortalFactory, TenantFactory, UserFactory, make_membership
call_command("migrate", verbosity=0)
tenant = TenantFactory(slug="race")
portal = PortalFactory(tenant=tenant, slug="race")
user = UserFactory(email="race@example.test")
make_membership(user=user, tenant=tenant)
raw = Client().post("/api/v1/identity/auth/login/", {"email": user.email, "password": "correct horse battery staple",
    "portal": "race"}, content_type="application/json").json()["refresh"]
barrier, statuses = threading.Barrier(20), []
def worker():
    barrier.wait(timeout=10)
    statuses.append(Client().post("/api/v1/identity/auth/refresh/", {"refresh": raw},
        content_type="application/json").status_code)
    connection.close()
threads = [threading.Thread(target=worker) for _ in range(20)]
[t.start() for t in threads]
[t.join(timeout=60) for t in threads]
print(json.dumps(statuses))
"""


@pytest.mark.django_db(transaction=False)
def test_twenty_parallel_refreshes_on_a_sqlite_file_database_yield_one_success(tmp_path, child_env):
    """The embedded SQLite default (a file, with its busy timeout) serialises writers the same way."""
    import json
    import os
    import subprocess
    import sys

    env = child_env(
        DJANGO_SETTINGS_MODULE="config.settings",
        # This run's test settings (config/pytest_env.py), without Redis: the embedded default.
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=os.environ["DJANGO_SECRET_KEY"],
        ALLOWED_HOSTS="testserver",
        SECURE_SSL_REDIRECT="false",
        EMAIL_URL="memorymail://",
        ATRIUM_TESTING="true",
        DATABASE_URL=f"sqlite:///{tmp_path / 'race.sqlite3'}",
        ATRIUM_THROTTLE_RATES="refresh=none,login=none",
    )
    result = subprocess.run(
        [sys.executable, "-c", RACE_SCRIPT],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    statuses = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(statuses) == 20
    assert statuses.count(200) == 1, statuses
    assert set(statuses) == {200, 401}, statuses


def test_a_deactivated_user_is_cut_off_at_the_next_request(api, login, member, portal):
    user = member()
    tokens = login(user, portal)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert api.get(ME).status_code == 200
    assert user_deactivate(user=user) == 1
    assert api.get(ME).status_code == 401
    assert APIClient().post(REFRESH, {"refresh": tokens["refresh"]}).status_code == 401
    relogin = APIClient().post(
        "/api/v1/identity/auth/login/", {"email": user.email, "password": PASSWORD, "portal": portal.slug}
    )
    assert relogin.status_code == 401
    assert not AuthSession.objects.filter(user=user, revoked_at__isnull=True).exists()


def test_a_deleted_users_access_token_stops_working(api, login, member, portal):
    user = member()
    tokens = login(user, portal)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert api.get(ME).status_code == 200
    with unscoped():  # deleting a user cascades into every tenant: operator code
        User.objects.filter(id=user.id).delete()
    assert api.get(ME).status_code == 401


def test_a_refresh_that_fails_before_issuing_leaves_its_token_usable(login, member, portal, monkeypatch):
    # The token is used, the session touched and the next token issued in one transaction: a fault
    # on the way (here, minting the access token) must not burn the token and sign the user out.
    from apps.identity.services import sessions

    tokens = login(member(), portal)
    client = APIClient(raise_request_exception=False)
    with monkeypatch.context() as patched:
        patched.setattr(sessions, "access_token_for", lambda **kwargs: 1 / 0)
        assert client.post(REFRESH, {"refresh": tokens["refresh"]}).status_code == 500
    again = client.post(REFRESH, {"refresh": tokens["refresh"]})
    assert again.status_code == 200, again.content
    assert again.json()["refresh"] != tokens["refresh"]
    assert APIClient().post(REFRESH, {"refresh": again.json()["refresh"]}).status_code == 200
    assert not AuthSession.objects.filter(revoked_at__isnull=False).exists()


def test_reusing_a_refresh_token_is_audited_as_reuse(api, login, member, portal, tenant):
    """Kills `session_revoke`: the reason-to-action map (`auth.refresh_reuse`) looked up with None; and
    `refresh_rotate` revoking on reuse without the session's user as actor, or without the client's address."""
    user = member()
    first = login(user, portal)
    assert api.post(REFRESH, {"refresh": first["refresh"]}).status_code == 200
    assert api.post(REFRESH, {"refresh": first["refresh"]}, REMOTE_ADDR="203.0.113.9").status_code == 401

    with tenant_context(tenant):
        last = AuditEvent.objects.order_by("seq").last()
    assert last is not None
    assert (last.action, last.actor_id, last.ip, last.data) == (
        "auth.refresh_reuse",
        user.id,
        "203.0.113.9",
        {"reason": "refresh_reuse"},
    )


def test_a_refresh_refused_for_lost_access_is_audited_from_where_it_came(api, login, member, portal, tenant):
    """Kills `refresh_rotate` ending a session that lost its access without the client's address."""
    user = member()
    tokens = login(user, portal)
    with tenant_context(tenant):
        Membership.objects.filter(user=user).delete()
    assert api.post(REFRESH, {"refresh": tokens["refresh"]}, REMOTE_ADDR="203.0.113.10").status_code == 401

    with tenant_context(tenant):
        last = AuditEvent.objects.order_by("seq").last()
    assert last is not None
    assert (last.action, last.actor_id, last.ip, last.data) == (
        "auth.session_revoked",
        None,
        "203.0.113.10",
        {"reason": "access_lost"},
    )
