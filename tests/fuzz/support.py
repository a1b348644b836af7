"""Shared by the fuzz tests: the budget, the app's own OpenAPI document, a fresh tenant's owner.

The budget is small by default so `make test` stays fast (the whole package in about a
minute on two cores). `ATRIUM_FUZZ_EXAMPLES=N` raises it for a long run (docs/testing.md).

Requests go to the app in process: schemathesis's WSGI transport calls `config.wsgi.application`,
the portal form tests use Django's test client. The tests use `transactional_db`, not `db`: the
token endpoints run outside any transaction in production (`token_endpoint`: failures stay
recorded), and under `db` they would run inside the test's one transaction, where a refused
request's rollback mark (DRF's `set_rollback`) dooms that transaction and every later request of
the test fails with a 500 production never gives. With `transactional_db` each request commits or
rolls back on its own, as in production; the tables are emptied after each test.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import schemathesis
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

SCHEMA_URL = "/api/v1/schema/?format=json"
PASSWORD = "correct horse battery staple"  # apps.identity.tests.factories.PASSWORD
# What every response must satisfy: no 5xx; a documented status; the documented content type; the
# documented body. (Not schemathesis's "positive data accepted" / "negative data rejected": rules the
# schema cannot state, such as a signature header the Stripe webhook needs, make those noise.)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def examples() -> int:
    """Examples per operation (and per portal form); `ATRIUM_FUZZ_EXAMPLES` raises it for a long run."""
    return max(1, int(os.environ.get("ATRIUM_FUZZ_EXAMPLES", "") or 6))


def fuzz_settings(max_examples: int | None = None, **extra: Any) -> settings:
    """Bounded examples, no per-example deadline (a shared CI machine is slow now and then), no example
    database (nothing written outside tmp dirs; a failure prints its reproduction instead)."""
    options: dict[str, Any] = {
        "max_examples": max_examples or examples(),
        "deadline": None,
        "database": None,
        "phases": [Phase.explicit, Phase.generate, Phase.shrink],
        "suppress_health_check": list(HealthCheck),
    }
    return settings(**{**options, **extra})


def openapi_document() -> dict[str, Any]:
    """The document `/api/v1/schema/` serves, generated in process (no request, no database).

    `test_the_fuzzed_document_is_the_served_one` checks it equals the served one.
    """
    generated = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(generated))


def load_schema() -> Any:
    """The app's OpenAPI schema for schemathesis, calling the app in process (WSGI)."""
    from config.wsgi import application

    schema = schemathesis.openapi.from_dict(openapi_document())
    schema.app = application
    return schema


@dataclass(frozen=True)
class Owner:
    """The owner of a fresh tenant on the `pro` plan, signed in through the login API."""

    slug: str
    email: str
    access: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}


def fresh_owner(slug: str = "fuzz") -> Owner:
    """`seed_rbac`, then `tenant_owner(slug)`."""
    from apps.identity.services.seeding import rbac_seed

    rbac_seed()
    return tenant_owner(slug)


def tenant_owner(slug: str) -> Owner:
    """`create_tenant` (plan pro: roles, API keys and webhooks open), then a real sign-in (RBAC seeded)."""
    from apps.identity.services.tenants import tenant_create

    email = f"owner@{slug}.test"
    tenant_create(slug=slug, name=f"Fuzz {slug}", owner_email=email, owner_password=PASSWORD, plan="pro")
    return sign_in(Owner(slug=slug, email=email, access=""))


def sign_in(owner: Owner) -> Owner:
    """The owner with a new access token from `auth/login/`."""
    response = Client().post(
        "/api/v1/identity/auth/login/",
        {"email": owner.email, "password": PASSWORD, "portal": owner.slug},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return Owner(slug=owner.slug, email=owner.email, access=response.json()["access"])


def still_signed_in(owner: Owner) -> bool:
    """The owner's token still works (a fuzzed call could have ended the session; the run would then
    only test 401s from there on, which the tests refuse to count as coverage)."""
    response = Client().get("/api/v1/identity/auth/me/", headers=owner.headers)
    return response.status_code == 200


class _Lighten(logging.Filter):
    """Keeps a log record's text, drops what keeps the request alive (its body can be megabytes)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            record.exc_text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            record.exc_info = None  # the traceback's frames hold the request
        if hasattr(record, "request"):
            record.request = None
        return True


@contextmanager
def light_log_records() -> Iterator[None]:
    """pytest keeps every record a test logs; with thousands of multi-megabyte requests that was 24 GB.

    While the block runs, the records the root handlers (pytest's among them) keep lose their request
    and traceback objects, and keep their text: a failure's log still reads the same.
    """
    handlers = list(logging.getLogger().handlers)
    lighten = _Lighten()
    for handler in handlers:
        handler.addFilter(lighten)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(lighten)
