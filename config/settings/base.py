"""Django's own settings, driven by `config.env`."""

from __future__ import annotations

from config import env as E

BASE_DIR = E.BASE_DIR
DEBUG = E.DEBUG
SECRET_KEY = E.SECRET_KEY
SECRET_KEY_FALLBACKS = E.SECRET_KEY_FALLBACKS
ALLOWED_HOSTS = E.ALLOWED_HOSTS

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_prometheus",
    "csp",
    "corsheaders",
    "django_htmx",  # htmx served from our own static files (portal pages), no CDN
    "django_otp",
    "django_otp.plugins.otp_totp",
    # Social sign-in: allauth's OAuth/OIDC exchange only (docs/adr/0014-social-sign-in-with-allauth.md).
    # allauth.account is there for socialaccount's models, without its middleware check (see that config).
    "apps.identity.social.apps.AllauthAccountConfig",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.google",
    "allauth.socialaccount.providers.github",
    "allauth.socialaccount.providers.openid_connect",
    # Atrium's apps come before django_rq so `apps.common`'s rqcron wins.
    "apps.common",
    "apps.identity",
    "apps.billing",
    "apps.flows",
    "apps.files",
    "apps.integrations",
    "apps.portals",
    "apps.operations",  # tenant export, offboarding, import: reads every app's models
    "django_rq",
]
if E.BENCH_CONTROLS:  # `make bench` only (docs/performance.md)
    INSTALLED_APPS.append("benchmarks.controls")

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "apps.common.middleware.RequestContextMiddleware",
    # CORS before anything that answers (so an allowed origin can read the API's errors too); it acts on
    # /api/ only (CORS_URLS_REGEX) and answers a preflight itself.
    "corsheaders.middleware.CorsMiddleware",
    "apps.common.middleware.ApiProblemMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Header middlewares sit before WhiteNoise so static files get the same headers as pages.
    "apps.common.middleware.ConstantCSPMiddleware",  # django-csp's, the policy built once
    "apps.common.middleware.SecurityHeadersMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Sessions, the session's user and messages: Django's own, skipped on the bearer-only API. (CSRF stays
    # Django's, by name, so `check --deploy` sees it; API views are exempt and it returns at once there.)
    "apps.common.browser_middleware.SessionMiddleware",
    # Django's, except that /healthz and /readyz skip its ALLOWED_HOSTS check (the load balancer probes by IP).
    "apps.common.middleware.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "apps.common.browser_middleware.AuthenticationMiddleware",
    "apps.common.browser_middleware.MessageMiddleware",
    "apps.identity.social.middleware.AccountMiddleware",  # allauth's, skipped on the bearer-only API
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
            ],
        },
    },
]

if E.DATABASE_URL.startswith("sqlite:///") and E.DATABASE_URL.removeprefix("sqlite:///").startswith(str(E.VAR_DIR)):
    E.VAR_DIR.mkdir(parents=True, exist_ok=True)

DATABASES = {"default": E.env.db_url_config(E.DATABASE_URL)}
# Persistent connections: a new connection per request costs more than the view.
DATABASES["default"]["CONN_MAX_AGE"] = 60
# No `SELECT 1` before each request's first query: Django already closes a connection that
# errored and is no longer usable when the request ends (CONN_HEALTH_CHECKS would check every time).
DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
DATABASES["default"]["ENGINE"] = DATABASES["default"]["ENGINE"].replace(
    "django.db.backends.postgresql_psycopg2", "django.db.backends.postgresql"
)
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"]["ENGINE"] = "django_prometheus.db.backends.postgresql"
elif DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["ENGINE"] = "django_prometheus.db.backends.sqlite3"

DATABASES["default"]["ATOMIC_REQUESTS"] = True
if "sqlite" in DATABASES["default"]["ENGINE"]:
    # The embedded default: writers queue (IMMEDIATE + busy timeout) instead of failing with
    # "database is locked", and WAL lets readers and a writer work at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
if "postgresql" in DATABASES["default"]["ENGINE"]:
    # A probe or request answers 503 within seconds rather than hanging on a silent host.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "identity.User"
# The model `apps.common.models.TenantScopedModel` points at (common imports no app).
TENANT_MODEL = "identity.Tenant"

if E.REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "apps.common.redis_cache.RedisCache",  # Django's, one client per pool
            "LOCATION": E.REDIS_URL,
            "KEY_PREFIX": "atrium",
            # Fail fast (and fail closed) instead of hanging a request when Redis is unreachable.
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
elif E.TESTING:
    # A test run is one process per test database (subprocesses a test starts get their own settings).
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "atrium"}}
else:
    # The embedded default (and ATRIUM_SINGLE_PROCESS): files that the server and every `manage.py`
    # command of this machine share, so a revocation or lockout made by an operator command reaches
    # the server (docs/adr/0009-embedded-shared-cache.md).
    CACHES = {
        "default": {
            "BACKEND": "config.cache.SharedFileCache",
            "LOCATION": str(E.CACHE_DIR),
            "KEY_PREFIX": "atrium",
            # Culling only ever drops expired entries (see SharedFileCache); this is when it starts looking.
            "OPTIONS": {"MAX_ENTRIES": 10_000},
        }
    }

# Portal sign-ins live in the Django session (apps.portals.session_store): read from the cache, kept in the
# database too, so a cache flush signs nobody out. The session row is not the authority: every request
# re-checks the browser session it names (identity.services.browser_sessions).
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = E.VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = E.MEDIA_ROOT
# Whitenoise serves straight from the finders, so no collectstatic is needed to run.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

_email = E.env.email_url_config(E.EMAIL_URL)
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST", "localhost")
EMAIL_PORT = _email.get("EMAIL_PORT", 25)
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = E.DEFAULT_FROM_EMAIL
SERVER_EMAIL = E.DEFAULT_FROM_EMAIL

# Atrium's own settings.
PUBLIC_BASE_URL = E.PUBLIC_BASE_URL
METRICS_TOKEN = E.METRICS_TOKEN
COMPLIANCE_PROFILES = E.COMPLIANCE_PROFILES
TRUSTED_PROXIES = E.TRUSTED_PROXIES
REDIS_URL = E.REDIS_URL
ANALYTICS_EVENTS = E.ANALYTICS_EVENTS
ATRIUM_TENANT_DOMAIN = E.ATRIUM_TENANT_DOMAIN
