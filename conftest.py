"""Root test configuration: service markers, and fixtures shared by every app.

Signing in goes through the real login endpoint (`login`, `api_client`), with
`apps.identity.tests.factories.PASSWORD`, the password every `UserFactory` user has.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from config.env import BASE_DIR
from config.env import CI as IN_CI


def _postgres_available() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def _redis_available() -> bool:
    return bool(settings.REDIS_URL)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests that need PostgreSQL or Redis say so when skipped; CI refuses to skip them."""
    needs = {
        "postgres": (_postgres_available, "needs PostgreSQL: set DATABASE_URL=postgres://..."),
        "redis": (_redis_available, "needs Redis: set REDIS_URL=redis://..."),
    }
    for marker, (available, reason) in needs.items():
        if item.get_closest_marker(marker) and not available():
            if IN_CI:
                pytest.fail(f"CI must not skip this test: {reason}", pytrace=False)
            pytest.skip(reason)


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings: pytest.FixtureRequest) -> None:
    """Argon2 is deliberately slow; tests that count hashes use the real setting explicitly."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _jobs_inline_unless_testing_redis(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Jobs run inline (as without REDIS_URL) except in tests that exercise the real queues.

    With REDIS_URL set (CI), a deferred mail would otherwise wait in Redis for a
    worker that a test does not run. Tests marked `redis` get the real queues.
    """
    if request.node.get_closest_marker("redis") or not settings.REDIS_URL:
        yield
        return
    from django.test import override_settings

    from config.settings.rq import embedded_queues

    with override_settings(RQ_QUEUES=embedded_queues()):
        yield


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    from django.core.cache import cache

    from apps.billing.selectors import plan_cache_clear
    from apps.identity.revocation import epoch_forget
    from apps.identity.tokens import verified_tokens

    cache.clear()
    plan_cache_clear()  # the plans a previous test's database held
    epoch_forget()  # the store's epoch went with the clear: the next token minted sets a new one
    verified_tokens.clear()  # a test's clock or keys may differ from the last one's


@pytest.fixture(scope="session")
def child_env(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., dict[str, str]]:
    """`child_env(NAME=value, ...)`: the whole environment of a process a test starts.

    Not this process's environment (the developer's shell, an exported `.env`,
    pytest's own test settings): only PATH, a fixed locale and a way to import
    Atrium come from here, plus what the test names. HOME and ATRIUM_VAR_DIR
    (embedded database, dev keys, uploads, cache) are fresh temporary
    directories, so the child writes nothing into the checkout.
    """

    def make(**values: str) -> dict[str, str]:
        scratch = tmp_path_factory.mktemp("child")
        (scratch / "home").mkdir()
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "HOME": str(scratch / "home"),
            "TMPDIR": str(scratch),
            "PYTHONPATH": str(BASE_DIR),
            "PYTHONDONTWRITEBYTECODE": "1",
            "ATRIUM_VAR_DIR": str(scratch / "var"),
        }
        env.update(values)
        return env

    return make


@pytest.fixture
def pg_connection() -> object:
    if not _postgres_available():
        pytest.skip("needs PostgreSQL")
    return connection


@pytest.fixture
def tenant(db: None) -> object:
    from apps.identity.tests.factories import TenantFactory

    return TenantFactory(slug="acme-test", name="Acme Test")


@pytest.fixture
def other_tenant(db: None) -> object:
    from apps.identity.tests.factories import TenantFactory

    return TenantFactory(slug="globex-test", name="Globex Test")


@pytest.fixture
def pro_plan(tenant: object, other_tenant: object) -> None:
    """Both test tenants on `pro` (custom roles, API keys, webhooks: the default `free` has none of them)."""
    from apps.identity.models import Tenant

    Tenant.objects.filter(pk__in=[tenant.pk, other_tenant.pk]).update(plan_code="pro")  # type: ignore[attr-defined]


@pytest.fixture
def portal(tenant: object) -> object:
    from apps.identity.tests.factories import PortalFactory

    return PortalFactory(tenant=tenant, slug="acme-test", name="Acme Test Portal", is_default=True)


@pytest.fixture
def member(tenant: object):  # type: ignore[no-untyped-def]
    """`member(role="admin")` → a user with an active membership of `tenant` in that role."""
    from apps.identity.tests.factories import UserFactory, make_membership

    def make(role: str = "member", *, user: object = None, of: object = None) -> object:
        user = user or UserFactory()
        make_membership(user=user, tenant=of or tenant, role=role)  # type: ignore[arg-type]
        return user

    return make


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def login(api):  # type: ignore[no-untyped-def]
    """`login(user, portal)` → the token response of POST auth/login/."""

    from apps.identity.tests.factories import PASSWORD

    def do(user, portal, password: str = PASSWORD) -> dict:
        response = api.post(
            "/api/v1/identity/auth/login/", {"email": user.email, "password": password, "portal": portal.slug}
        )
        assert response.status_code == 200, response.content
        body = response.json()
        if "access" in body:
            # Use what you get: a sign-in that answers 200 must give a token the API accepts.
            me = APIClient().get("/api/v1/identity/auth/me/", HTTP_AUTHORIZATION=f"Bearer {body['access']}")
            assert me.status_code == 200, me.content
            assert me.json()["email"].lower() == user.email.lower()
        return body

    return do


@pytest.fixture
def api_client(login):  # type: ignore[no-untyped-def]
    """`api_client(user, portal)` → an APIClient with that user's bearer token."""

    def make(user, portal) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {login(user, portal)['access']}")
        return client

    return make


@pytest.fixture
def rbac_seeded(db, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """Permissions and system roles as `seed_rbac` makes them, and a fresh in-process role map.

    The on-commit RBAC version bump runs as a real commit would run it.
    """
    from apps.identity import rbac
    from apps.identity.services.seeding import rbac_seed

    rbac.declared_catalogue.cache_clear()
    rbac.reset_role_map()
    with django_capture_on_commit_callbacks(execute=True):
        rbac_seed()
    yield
    rbac.reset_role_map()


# --------------------------------------------------------------------------- the web database role


@pytest.fixture
def web_role(transactional_db: None) -> str:
    """The web/worker role's name, with the table grants create-app-role.sh gives it."""
    name = f"{connection.settings_dict['USER']}_web"
    quoted = connection.ops.quote_name(name)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s AND rolcanlogin", [name])
        if cursor.fetchone() is None:
            pytest.fail(f"No login role {name!r}: run scripts/db/create-app-role.sh (it creates both roles).")
        cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}")
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}")
        cursor.execute(f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {quoted}")
    return name


@pytest.fixture
def web_connect(web_role: str) -> Iterator[Any]:
    """Open psycopg connections to the test database as the web role (closed after the test)."""
    opened: list[psycopg.Connection[Any]] = []
    db = connection.settings_dict

    def connect(**options: Any) -> psycopg.Connection[Any]:
        conn = psycopg.connect(
            dbname=db["NAME"],
            user=web_role,
            host=db["HOST"] or None,
            port=db["PORT"] or None,
            password=db["PASSWORD"] or None,
            **options,
        )
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        conn.close()
