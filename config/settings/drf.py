"""Django REST framework: bearer-only, deny by default, problem+json errors, throttled auth endpoints.

Throttles: a view names its scope (`throttle_scope = "login"`) and
`apps.identity.throttling.ScopedAuthThrottle` counts its requests per client IP
in the shared cache (429 + `Retry-After` past the rate). `AUTH_THROTTLE_RATES`
are the defaults; `ATRIUM_THROTTLE_RATES` (`scope=rate,...`, rate `N/sec|min|hour|day`
or `none` to switch a scope off) overrides them one by one.
"""

from config import env as E

AUTH_THROTTLE_RATES: dict[str, str | None] = {
    "login": "20/min",
    "refresh": "60/min",
    "mfa_verify": "10/min",
    "password_reset": "20/hour",
    "email_resend": "20/hour",
    "register": "20/hour",
}
# Per-user scopes of signed-in API calls (`apps.flows.api.throttling.PerUserThrottle`); `api_key` counts
# every request per API key, in the key's own cache round trip (`apps.identity.api_key_auth`).
API_THROTTLE_RATES: dict[str, str | None] = {
    "analytics": "120/min",
    "api_key": None if E.API_KEY_RATE.strip().lower() in {"", "none", "off"} else E.API_KEY_RATE.strip(),
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.common.errors.problem_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # Only views that name a `throttle_scope` are counted; the others pass untouched.
    "DEFAULT_THROTTLE_CLASSES": ["apps.identity.throttling.ScopedAuthThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        **AUTH_THROTTLE_RATES,
        **API_THROTTLE_RATES,
        **{
            scope: None if rate.strip().lower() in {"", "none", "off"} else rate.strip()
            for scope, rate in E.THROTTLE_RATES.items()
        },
    },
}
