"""The served OpenAPI document matches what is routed, and documents auth and errors.

The expected identity operations are not a hand-kept list: they come from the
URL walker (`tests.test_url_walker.iter_routes`), so every route that lands
under `/api/v1/identity/` must show up in the schema with each of its methods.
Bearer views declare the bearer scheme; public ones do not demand it; every
operation documents at least one 4xx answer in the problem+json shape.
"""

from __future__ import annotations

import json

import pytest
from openapi_spec_validator import validate

from apps.identity.api.base import PublicAPIView, TenantAPIView, TenantViewSet
from tests.test_url_walker import ROUTES, Route

pytestmark = pytest.mark.django_db

IDENTITY = "api/v1/identity/"
BEARER = "bearerAuth"
PROBLEM_JSON = "application/problem+json"
# Operations that cannot fail on client input (no body, no parameters, no auth), each with its reason.
NO_CLIENT_ERRORS: dict[tuple[str, str], str] = {
    ("/api/v1/", "get"): "service info: static links, no input",
    ("/.well-known/jwks.json", "get"): "public keys: no input",
}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture(scope="module")
def document(django_db_setup, django_db_blocker):
    from django.test import Client

    with django_db_blocker.unblock():
        response = Client().get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    return json.loads(response.content)


def operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


IDENTITY_ROUTES = [r for r in ROUTES if r.route.startswith(IDENTITY) and r.methods]


def _route_id(route: Route) -> str:
    return f"{'/'.join(sorted(route.methods))} {route.path}"


def test_the_document_is_valid_openapi_3(document):
    assert document["openapi"].startswith("3.")
    validate(document)


def test_the_walker_found_the_identity_api():
    paths = {r.path for r in IDENTITY_ROUTES}
    assert "/api/v1/identity/portals/" in paths
    assert "/api/v1/identity/audit-events/" in paths
    assert "/api/v1/identity/auth/login/" in paths


@pytest.mark.parametrize("route", IDENTITY_ROUTES, ids=[_route_id(r) for r in IDENTITY_ROUTES])
def test_every_routed_identity_operation_is_documented(document, route: Route):
    item = document["paths"].get(route.path)
    assert item is not None, f"{route.path} is routed but missing from the schema"
    documented = {m.upper() for m in item if m in HTTP_METHODS}
    assert route.methods <= documented, f"{route.path}: routed {sorted(route.methods)}, documented {sorted(documented)}"


def test_the_bearer_scheme_is_declared(document):
    scheme = document["components"]["securitySchemes"][BEARER]
    assert scheme["type"] == "http"
    assert scheme["scheme"] == "bearer"


def _requirements(document, path: str, method: str) -> list[dict]:
    operation = document["paths"][path][method.lower()]
    return operation.get("security", document.get("security", []))


BEARER_ROUTES = [
    r for r in IDENTITY_ROUTES if r.view_class is not None and issubclass(r.view_class, (TenantAPIView, TenantViewSet))
]
PUBLIC_ROUTES = [r for r in IDENTITY_ROUTES if r.view_class is not None and issubclass(r.view_class, PublicAPIView)]


@pytest.mark.parametrize("route", BEARER_ROUTES, ids=[_route_id(r) for r in BEARER_ROUTES])
def test_bearer_operations_require_the_bearer_scheme(document, route: Route):
    for method in route.methods:
        requirements = _requirements(document, route.path, method)
        assert requirements, f"{method} {route.path}: no security requirement"
        assert {} not in requirements, f"{method} {route.path}: documented as callable without a token"
        assert all(requirements), f"{method} {route.path}: an empty requirement admits anyone"
        names = {name for requirement in requirements for name in requirement}
        schemes = document["components"]["securitySchemes"]
        assert all(schemes[name]["scheme"] == "bearer" for name in names), f"{method} {route.path}: {names}"


@pytest.mark.parametrize("route", PUBLIC_ROUTES, ids=[_route_id(r) for r in PUBLIC_ROUTES])
def test_public_operations_do_not_demand_a_token(document, route: Route):
    for method in route.methods:
        requirements = _requirements(document, route.path, method)
        assert not requirements or {} in requirements, f"{method} {route.path} is public but demands {requirements}"


def test_the_shared_portal_path_documents_both_doors(document):
    item = document["paths"]["/api/v1/identity/portals/{slug}/"]
    assert {} in item["get"]["security"]
    assert item["patch"]["security"] == [{BEARER: []}]
    assert item["get"]["operationId"] != item["patch"]["operationId"]


def _client_errors(operation: dict) -> dict[str, dict]:
    return {code: body for code, body in operation["responses"].items() if code.startswith("4")}


def test_every_operation_documents_a_client_error_with_the_problem_schema(document):
    missing = []
    for path, method, operation in operations(document):
        if (path, method) in NO_CLIENT_ERRORS:
            continue
        refs = [
            media.get("schema", {}).get("$ref", "")
            for body in _client_errors(operation).values()
            for media in body.get("content", {}).values()
        ]
        if not any(ref.endswith("/Problem") for ref in refs):
            missing.append(f"{method.upper()} {path}")
    assert missing == [], f"no 4xx documented with the Problem schema: {missing}"


def test_client_errors_are_documented_as_problem_json(document):
    wrong = []
    for path, method, operation in operations(document):
        if (path, method) in NO_CLIENT_ERRORS:
            continue
        for code, body in _client_errors(operation).items():
            media = set(body.get("content", {}))
            if PROBLEM_JSON not in media:
                wrong.append(f"{method.upper()} {path} {code}: {sorted(media)}")
    assert wrong == []


def test_the_exceptions_to_the_error_rule_are_real_operations(document):
    present = {(path, method) for path, method, _ in operations(document)}
    assert set(NO_CLIENT_ERRORS) <= present
