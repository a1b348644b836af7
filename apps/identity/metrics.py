"""Prometheus counters for sign-in: what an operator alerts on when someone hammers the login.

The counters live in prometheus_client's default registry, so django-prometheus
exports them at `/metrics`; under gunicorn (multiprocess mode) each worker
writes its own samples and the exporting worker sums them. They carry no
labels: an e-mail or IP as a label would leak personal data and grow without
bound.

- `atrium_auth_login_success_total`: a correct password (before the membership,
  portal-role and MFA steps).
- `atrium_auth_login_failure_total`: a wrong password or unknown e-mail.
- `atrium_auth_lockout_total`: a lock imposed (pair, account or client IP).
- `atrium_auth_mfa_failure_total`: a wrong second-factor code.
- `atrium_auth_refresh_reuse_total`: a used refresh token presented again (its
  session was ended).
"""

from __future__ import annotations

from prometheus_client import Counter

LOGIN_SUCCESS = Counter("atrium_auth_login_success", "Sign-ins with a correct password.")
LOGIN_FAILURE = Counter("atrium_auth_login_failure", "Sign-ins refused for a wrong password or unknown e-mail.")
LOCKOUT = Counter("atrium_auth_lockout", "Locks imposed on an (account, client) pair, an account or a client IP.")
MFA_FAILURE = Counter("atrium_auth_mfa_failure", "Wrong second-factor codes.")
REFRESH_REUSE = Counter("atrium_auth_refresh_reuse", "Used refresh tokens presented again (session ended).")


def login_succeeded() -> None:
    LOGIN_SUCCESS.inc()


def login_failed() -> None:
    LOGIN_FAILURE.inc()


def lockout_imposed() -> None:
    LOCKOUT.inc()


def mfa_failed() -> None:
    """Count one wrong MFA code (TOTP or backup code)."""
    MFA_FAILURE.inc()


def refresh_reused() -> None:
    REFRESH_REUSE.inc()
