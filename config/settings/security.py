"""Security headers, cookies and CSP. HSTS and secure cookies outside debug."""

from __future__ import annotations

import re

from corsheaders.defaults import default_headers
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from config import env as E

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_HSTS_SECONDS = 0 if E.DEBUG else 31_536_000
SECURE_HSTS_INCLUDE_SUBDOMAINS = not E.DEBUG
SECURE_HSTS_PRELOAD = not E.DEBUG
SECURE_SSL_REDIRECT = E.SECURE_SSL_REDIRECT
# The TLS-terminating proxy tells us the scheme; only meaningful behind it.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if E.TRUSTED_PROXIES else None
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
# The Host header alone names the site (checked against ALLOWED_HOSTS); a client's X-Forwarded-Host is not believed.
USE_X_FORWARDED_HOST = False
USE_X_FORWARDED_PORT = False

SESSION_COOKIE_SECURE = not E.DEBUG
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = not E.DEBUG
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"

PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()"
)

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        # https: for the logo a portal's theme names (portal_fields only accepts https:// URLs).
        "img-src": [SELF, "data:", "https:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}

# CORS (django-cors-headers): only the API, only the listed origins, echoed exactly; never `*`, never with
# credentials (the API takes bearer tokens, not cookies), no extra response headers exposed. A request from
# any other origin, or a preflight from one, gets no Access-Control-Allow-Origin: the browser keeps the answer.
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")


def cors_allowed_origins(values: list[str]) -> list[str]:
    """The origins of `CORS_ALLOWED_ORIGINS`, each `scheme://host[:port]`; anything else stops the start-up."""
    origins = [value.strip().lower() for value in values if value.strip()]
    wrong = [origin for origin in origins if not _ORIGIN.fullmatch(origin)]
    if wrong:
        raise ImproperlyConfigured(
            f"CORS_ALLOWED_ORIGINS: {', '.join(wrong)} is not an origin: list scheme://host[:port] entries "
            "(no path, no `*`, no `null`), comma-separated, e.g. https://app.example.com."
        )
    return origins


CORS_ALLOWED_ORIGINS = cors_allowed_origins(E.CORS_ALLOWED_ORIGINS)
CORS_URLS_REGEX = r"^/api/"
CORS_ALLOW_ALL_ORIGINS = False
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOWED_ORIGIN_REGEXES: list[str] = []
CORS_EXPOSE_HEADERS: list[str] = []
# What a preflight lets a listed origin send: django-cors-headers' defaults and the API's own request headers.
CORS_ALLOW_HEADERS = (*default_headers, "idempotency-key", "x-request-id")
CORS_ALLOW_PRIVATE_NETWORK = False
