"""Structured JSON logs on stdout, with secrets redacted before they are written."""

from config import env as E

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "apps.common.logging.RedactionFilter"}},
    "formatters": {"json": {"()": "apps.common.logging.JsonFormatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["redact"]},
    },
    "root": {"handlers": ["console"], "level": E.LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": E.LOG_LEVEL, "propagate": False},
        # Atrium logs its own access line; Django's duplicate 4xx/5xx lines add noise.
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        "django.server": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        "atrium": {"handlers": ["console"], "level": E.LOG_LEVEL, "propagate": False},
    },
}
