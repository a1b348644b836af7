"""OpenAPI: the bearer scheme, which takes Atrium's access tokens and tenant API keys alike."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

BEARER_SCHEME = "bearerAuth"


def _bearer_definition() -> dict[str, str]:
    return {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT or API key",
        "description": (
            "An access token from /api/v1/identity/auth/login/ (ES256; keys at /.well-known/jwks.json), or, on "
            "tenant endpoints, a tenant API key `atr_<prefix>_<secret>` from /api/v1/integrations/api-keys/, "
            "acting with the key's role. Endpoints about a person's own sign-in (auth/me, switch, sessions, "
            "password, MFA) take access tokens only."
        ),
    }


class BearerAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "apps.identity.authentication.BearerAuthentication"
    name = BEARER_SCHEME

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return _bearer_definition()


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """An API key travels in the same `Authorization: Bearer` header: `bearerAuth` describes both.

    No name of its own (no second component, no second requirement): the requirement that
    `BearerAuthentication`, listed beside it, adds already covers a key.
    """

    target_class = "apps.identity.api_key_auth.ApiKeyAuthentication"
    name: list[str] = []

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list[Any]]]:
        return []

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, str]]:
        return []
