"""schemathesis against the app's own OpenAPI document: no 5xx, and every answer is the documented one.

Each operation of `/api/v1/schema/` gets schema-valid and schema-violating requests (schemathesis's
positive and negative generation), anonymously and as the owner of a fresh tenant (bearer token from
the login API). Every response must pass `support.CHECKS`: not a server error, a documented status
code, the documented content type, a body that matches the documented schema.

The stateful test runs schemathesis's state machine: objects one call creates are read, changed and
deleted by the next, following links that schemathesis 4 infers from the document itself
(dependency analysis: a `{slug}` or `{id}` path parameter is matched to the field of the resource a
POST or a list returns), so the document needs no hand-written OpenAPI links.

The app is called in process (WSGI) in a transactional database: see `support`.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.errors import Flaky
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

from tests.fuzz.support import (
    CHECKS,
    SCHEMA_URL,
    examples,
    fresh_owner,
    fuzz_settings,
    light_log_records,
    load_schema,
    openapi_document,
    sign_in,
    still_signed_in,
    tenant_owner,
)

pytestmark = pytest.mark.django_db(transaction=True)

SCHEMA = load_schema()
# What ends the caller's own sign-in or moves the tenant off the pro plan (which roles, API keys and
# webhooks need): the stateless runs fuzz these last, the scenarios leave them out (the session list
# links to "revoke this session", their own; the member list to their own membership).
SELF_ENDING = [
    "DELETE /api/v1/identity/auth/sessions/{id}/",
    "POST /api/v1/identity/auth/logout/",
    "PATCH /api/v1/identity/members/{id}/",
    "DELETE /api/v1/identity/members/{id}/",
    "POST /api/v1/billing/subscription/change/",
    "POST /api/v1/billing/checkout/",
]
# The operations that may end the session they are called with (docs/api.md): a bearer `auth/logout/`.
SESSION_ENDING = {"POST /api/v1/identity/auth/logout/"}
OPERATIONS = sorted(
    (result.ok() for result in SCHEMA.get_all_operations() if isinstance(result, Ok)),
    key=lambda operation: operation.label in SELF_ENDING,
)
CREATED_THEN_USED = {
    ("GET", "/api/v1/files/{id}/"),
    ("DELETE", "/api/v1/files/{id}/"),
    ("DELETE", "/api/v1/identity/invitations/{id}/"),
    ("PATCH", "/api/v1/identity/roles/{code}/"),
    ("DELETE", "/api/v1/identity/roles/{code}/"),
    ("DELETE", "/api/v1/integrations/api-keys/{id}/"),
    ("GET", "/api/v1/integrations/webhooks/{id}/"),
    ("PATCH", "/api/v1/integrations/webhooks/{id}/"),
    ("DELETE", "/api/v1/integrations/webhooks/{id}/"),
}


def _strategy(operation: Any) -> st.SearchStrategy[Any]:
    """Schema-valid and schema-violating requests (an operation without input has no invalid ones)."""
    strategies = [operation.as_strategy(GenerationMode.POSITIVE)]
    if operation.body or any(True for _ in operation.iter_parameters()):
        strategies.append(operation.as_strategy(GenerationMode.NEGATIVE))
    return st.one_of(strategies)


def fuzz(operation: Any, headers: dict[str, str], statuses: Counter[int]) -> str | None:
    """Fuzz one operation; the failure schemathesis reports (with a curl line to reproduce it), or None."""

    @fuzz_settings()
    @given(case=_strategy(operation))
    def run(case: Any) -> None:
        response = case.call(headers=headers)
        statuses[response.status_code] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    try:
        with light_log_records():
            run()
    except Exception as exc:  # noqa: BLE001 - schemathesis's FailureGroup, or the app's own exception
        return f"{operation.label}:\n{exc}"
    return None


def test_the_fuzzed_document_is_the_served_one(client: Client) -> None:
    response = client.get(SCHEMA_URL)
    assert response.status_code == 200
    assert json.loads(response.content) == openapi_document()
    assert len(OPERATIONS) >= 50, "every operation of the document is fuzzed"


def test_every_operation_anonymously() -> None:
    fresh_owner()  # a tenant and a portal exist, so a guessed slug can name a real one
    statuses: Counter[int] = Counter()
    failures = [failure for operation in OPERATIONS if (failure := fuzz(operation, {}, statuses))]
    assert failures == [], "\n\n".join(failures)
    assert statuses[401] > 0, "the bearer endpoints refused the anonymous caller"
    assert sum(n for status, n in statuses.items() if status < 300) > 0, "the public endpoints answered"


def test_every_operation_as_a_tenant_owner() -> None:
    owner = fresh_owner()
    statuses: Counter[int] = Counter()
    failures, ended = [], []
    for operation in OPERATIONS:
        if failure := fuzz(operation, owner.headers, statuses):
            failures.append(failure)
        if not still_signed_in(owner):  # fuzz the rest signed in again, and say what signed the owner out
            ended.append(operation.label)
            owner = sign_in(owner)
    assert failures == [], "\n\n".join(failures)
    assert set(ended) <= SESSION_ENDING, f"these ended the owner's session: {ended}"
    ok = sum(n for status, n in statuses.items() if status < 300)
    assert ok >= len(OPERATIONS) // 3, f"too few accepted calls to have tested much: {dict(statuses)}"


def test_objects_created_are_then_read_changed_and_deleted() -> None:
    fresh_owner()  # seeds RBAC; each scenario has a tenant of its own, below
    calls: Counter[tuple[str, str, int]] = Counter()
    failures: list[str] = []
    scenarios = iter(range(1_000_000))

    class Scenario(SCHEMA.exclude(name=SELF_ENDING).as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            # Every scenario starts alike, with a new empty tenant and no throttle counters: which links
            # can be followed depends on the answers, and Hypothesis replays a scenario to shrink it.
            cache.clear()
            self.owner = tenant_owner(f"fuzz-s{next(scenarios)}")

        def before_call(self, case: Any) -> None:
            case.headers = {**(case.headers or {}), **self.owner.headers}

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            calls[(case.method.upper(), case.path, response.status_code)] += 1

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
            try:
                case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs or None)
            except Exception as exc:
                failures.append(f"{case.method.upper()} {case.path}:\n{exc}")
                raise

        def teardown(self) -> None:
            if not still_signed_in(self.owner):
                failures.append("a scenario signed the owner out: the rest of it tested only 401s")
                raise AssertionError(failures[-1])

    try:
        with light_log_records():
            Scenario.run(settings=fuzz_settings(max_examples=3 * examples(), stateful_step_count=8, derandomize=True))
    except Flaky:
        # A replay that did not get the same answers (the ids, the clock): as schemathesis's own runner
        # does, not a failure in itself; whatever a scenario found before it is in `failures`.
        pass
    assert failures == [], "\n\n".join(failures)

    # The fresh tenant has no files, invitations, custom roles, API keys or webhooks: a 2xx on one of
    # these paths is an object a scenario created and then read, changed or deleted through a link.
    followed = {(m, p) for (m, p, status) in calls if status < 300 and (m, p) in CREATED_THEN_USED}
    assert followed, f"no scenario used an object it created: {sorted(calls.items())}"
