"""Browser tests: Debian's Chromium driven by Playwright against a live server of the app (docs/testing.md).

Fixtures (besides pytest-playwright's `page`, `context`, `new_context`, `browser`):

- `live_server` (pytest-django's, adapted below): the app on a free port, on the
  test database, each test in a transactional database (data the test writes is
  committed, so the server sees it, and flushed afterwards); on PostgreSQL its
  requests run as the web role. Mails link to it
  (`PUBLIC_BASE_URL` is set to its URL), and pages are relative to it:
  `page.goto("/portal/acme/login/")`.
- `demo`: what `manage.py seed_rbac` and `seed_demo --password DEMO_PASSWORD`
  make (tenants acme and globex, portals acme, acme-admin, globex, the four demo users).
- `mailbox`: a real SMTP server (aiosmtpd on 127.0.0.1) that Django's mail goes
  to, jobs (the outbox, the `mail` queue) run inline; `mailbox.link_to(address)`
  waits for a mail and gives its first link, on the live server.
- `screenshot(page, name="")`: a PNG under `var/screenshots/`, named after the test.

Helpers to import from `tests.browser.support`: `sign_in`, `enter_code`,
`totp_code`, `assert_accessible`. Every test here is marked `browser` and runs after
all other tests of the session (see `pytest_collection_modifyitems`).

The browser is `/usr/bin/chromium` (or `$CHROMIUM`), installed by
`scripts/ci/ensure-chromium.sh`; Playwright never downloads one. One browser
per session, a new context (cookies, storage) per test.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings
from playwright.sync_api import Page

from apps.common.tests.smtp_support import Collector, Mail, first_link, smtp_server
from tests.browser.support import on_server, save_screenshot

CHROMIUM = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# `manage.py seed_demo --password DEMO_PASSWORD`: every demo user's password in the browser tests.
DEMO_PASSWORD = "demo passphrase for browsers 7"

_HERE = Path(__file__).resolve().parent


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here is marked `browser`, and they run after all others of the session.

    Playwright's sync API keeps an asyncio event loop running in the main thread from the first
    browser test to the end of the session. Any test after it would run beside that loop: Django
    refuses ORM calls there (unless DJANGO_ALLOW_ASYNC_UNSAFE, below) and `async_to_sync` refuses
    to run at all (the ASGI test of tests/test_entry_points.py). So no test comes after them.
    """
    browser, others = [], []
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.browser)
            browser.append(item)
        else:
            others.append(item)
    items[:] = others + browser


@pytest.fixture(scope="session", autouse=True)
def _django_beside_the_playwright_loop() -> Iterator[None]:
    """The tests and the live server make ordinary synchronous ORM calls beside Playwright's loop: allowed."""
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if before is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


# --------------------------------------------------------------------------- the browser


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's Chromium, headless unless `--headed`; never a browser Playwright downloads."""
    if not os.access(CHROMIUM, os.X_OK):
        # Under CI=true a skip fails the run (config/pytest_ci.py), with this reason.
        pytest.skip(
            f"the browser tests need Chromium at {CHROMIUM}: run scripts/ci/ensure-chromium.sh "
            "(it installs Debian's chromium package), or set CHROMIUM=/path/to/chromium"
        )
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def base_url(live_server: Any) -> str:
    """Every context (`context`, `page`, `new_context()`) resolves relative URLs against the live server."""
    return str(live_server.url)


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "locale": "en-US", "timezone_id": "UTC"}


# --------------------------------------------------------------------------- the server and its data


class _OneRequestAtATime:
    """A WSGI app that lets one request at a time into `app` (for a live server on in-memory SQLite)."""

    _lock = threading.Lock()

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        # ATOMIC_REQUESTS: the request's transaction has ended when the app returns.
        with self._lock:
            return self.app(environ, start_response)


class _AsWebRole:
    """A WSGI app whose requests use the database as the web role, as production's web and worker processes do.

    The test's own thread stays the operator role (seeding, assertions); the
    server's threads get a connection of their own as `<operator>_web`, which
    row-level security binds to the request's tenant and which cannot lift it
    (ADR 0008): a page that needs `unscoped()` fails here as it would in production.
    """

    def __init__(self, app: Any, settings_dict: dict[str, Any]) -> None:
        self.app = app
        self.settings_dict = settings_dict

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        from django.db import DEFAULT_DB_ALIAS, connections

        current = connections[DEFAULT_DB_ALIAS]
        if current.settings_dict is not self.settings_dict:
            # Per thread (Django's connections are thread-local); closed with the others after each request.
            connections[DEFAULT_DB_ALIAS] = type(current)(self.settings_dict, DEFAULT_DB_ALIAS)
        return self.app(environ, start_response)


def _web_role_settings(django_db_blocker: Any) -> dict[str, Any]:
    """The test database's settings as the web role, with the table grants create-app-role.sh gives it."""
    from django.db import connection

    web = f"{connection.settings_dict['USER']}_web"
    quoted = connection.ops.quote_name(web)
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s AND rolcanlogin", [web])
        if cursor.fetchone() is None:
            pytest.fail(f"No login role {web!r}: run scripts/db/create-app-role.sh (it creates both roles).")
        cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}")
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}")
        cursor.execute(f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {quoted}")
    return {**connection.settings_dict, "USER": web}


@pytest.fixture(scope="session")
def live_server(request: pytest.FixtureRequest, django_db_setup: None, django_db_blocker: Any) -> Iterator[Any]:
    """pytest-django's live server, started on the test database.

    - The test database must exist first (`django_db_setup`): `base_url` starts
      the server before any test's database fixture would have made it.
    - On PostgreSQL its requests run as the web role (see `_AsWebRole`), so the
      row-level security policies hold as in production.
    - On in-memory SQLite it serves one request at a time: its request threads
      all share the test's one SQLite connection (an in-memory database has no
      other), and two requests at once (a page and its stylesheet, say) would
      fail with "database table is locked".

    Either way, a test should not query the database while the page still has
    requests in flight (wait for what the page shows first).
    """
    from django.db import connection
    from pytest_django.live_server_helper import LiveServer

    addr = request.config.getvalue("liveserver") or os.getenv("DJANGO_LIVE_TEST_SERVER_ADDRESS") or "localhost"
    server = LiveServer(addr, start=False)
    handler = server.thread.static_handler
    if server.thread.connections_override:
        server.thread.static_handler = lambda app: _OneRequestAtATime(handler(app))
    elif connection.vendor == "postgresql":
        web = _web_role_settings(django_db_blocker)
        server.thread.static_handler = lambda app: handler(_AsWebRole(app, web))
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _mail_links_to_live_server(live_server: Any, settings: Any) -> None:
    """Absolute links in mails (`PUBLIC_BASE_URL`, apps/identity/links.py) point at the live server."""
    settings.PUBLIC_BASE_URL = live_server.url


@dataclass(frozen=True)
class Demo:
    """The demo data of `seed_demo`, committed; `users` and `portals` by e-mail and slug."""

    password: str
    tenants: dict[str, Any]
    portals: dict[str, Any]
    users: dict[str, Any]


@pytest.fixture
def demo(transactional_db: None) -> Iterator[Demo]:
    """`seed_rbac` and `seed_demo --password DEMO_PASSWORD`, as an operator runs them, committed."""
    from apps.identity import rbac
    from apps.identity.models import Portal, Tenant, User
    from apps.identity.services.demo import DEMO_USERS

    rbac.declared_catalogue.cache_clear()
    rbac.reset_role_map()
    call_command("seed_demo", password=DEMO_PASSWORD, stdout=io.StringIO())
    yield Demo(
        password=DEMO_PASSWORD,
        tenants={t.slug: t for t in Tenant.objects.all()},
        portals={p.slug: p for p in Portal.objects.select_related("tenant")},
        users={u.email: User.objects.by_email(u.email).get() for u in DEMO_USERS},
    )
    # The next test's database has other role rows: no process-wide role map may outlive this one.
    rbac.reset_role_map()


# --------------------------------------------------------------------------- mail


class Mailbox:
    """What the SMTP server received; `link_to` is what a user clicks in a mail."""

    def __init__(self, collector: Collector, base_url: str) -> None:
        self.collector = collector
        self.base_url = base_url

    @property
    def mails(self) -> list[Mail]:
        return self.collector.mails

    def mails_to(self, address: str, *, subject: str | None = None) -> list[Mail]:
        return self.collector.mails_to(address, subject=subject)

    def wait_for(self, address: str, *, subject: str | None = None, timeout: float = 10.0, after: int = 0) -> Mail:
        """The first (or `after`+1-th) mail to `address`, waiting up to `timeout` seconds."""
        return self.collector.wait_for(address, subject=subject, timeout=timeout, after=after)

    def link_to(self, address: str, *, subject: str | None = None, timeout: float = 10.0, after: int = 0) -> str:
        """The first http(s) link in the text part of that mail, on the live server."""
        mail = self.wait_for(address, subject=subject, timeout=timeout, after=after)
        return on_server(first_link(mail.text), self.base_url)


@pytest.fixture
def mailbox(live_server: Any) -> Iterator[Mailbox]:
    """A real SMTP server on 127.0.0.1 receiving the app's mail; jobs (outbox, mail queue) run inline."""
    from config.settings.rq import embedded_queues

    with override_settings(RQ_QUEUES=embedded_queues()), smtp_server() as collector:
        yield Mailbox(collector, live_server.url)


# --------------------------------------------------------------------------- screenshots


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Any:
    """`screenshot(page, "dashboard")` → var/screenshots/<module>.<test>--dashboard.png (full page)."""
    node = request.node
    # The browser pytest-playwright parametrizes with is no part of the name; a test's own parameters are.
    params = [p for p in getattr(getattr(node, "callspec", None), "id", "").split("-") if p and p != "chromium"]
    test_name = f"{node.path.stem}.{node.originalname}" + (f"[{'-'.join(params)}]" if params else "")

    def take(page: Page, name: str = "", *, full_page: bool = True) -> Path:
        return save_screenshot(page, test_name, name, full_page=full_page)

    return take
