"""Production refuses to start on development defaults, naming the variable to fix.

Settings are read once at import, so each case runs `manage.py check` in a
fresh process with a crafted environment.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from config.env import BASE_DIR, DEV_SECRET_KEY

# Variables a case sets itself; inherited values (pytest's own test env) must not leak in.
_CONTROLLED = {
    "DJANGO_DEBUG",
    "DJANGO_SECRET_KEY",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "REDIS_URL",
    "METRICS_TOKEN",
    "SECURE_SSL_REDIRECT",
    "ATRIUM_TESTING",
    "COMPLIANCE_PROFILES",
    "JWT_KEYS_DIR",
    "JWT_PRIVATE_KEY",
    "ATRIUM_SINGLE_PROCESS",
    "ATRIUM_THROTTLE_RATES",
}
GOOD_KEY = secrets.token_urlsafe(50)
# A shared store for revocation and lockout (production refuses to start without one); `check` does not connect.
REDIS = "redis://127.0.0.1:6379/0"


def manage(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in _CONTROLLED}
    clean["DATABASE_URL"] = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    clean["JWT_KEYS_DIR"] = str(tmp_path / "jwt-keys")  # never the developer's keys in var/
    clean.update(env)
    return subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), *args],
        cwd=BASE_DIR,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_refused(result: subprocess.CompletedProcess[str], variable: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith(f"error: {variable} "), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("case", "secret"),
    [("dev default", DEV_SECRET_KEY), ("too short", "short-but-not-empty"), ("empty", "")],
)
def test_production_refuses_bad_secret_key(tmp_path, case, secret):
    result = manage(tmp_path, "check", DJANGO_DEBUG="false", DJANGO_SECRET_KEY=secret, ALLOWED_HOSTS="a.example")
    assert_refused(result, "DJANGO_SECRET_KEY")


def test_production_refuses_missing_secret_key(tmp_path):
    # Unset falls back to the development key, which production must not accept.
    result = manage(tmp_path, "check", DJANGO_DEBUG="false", ALLOWED_HOSTS="a.example")
    assert_refused(result, "DJANGO_SECRET_KEY")


@pytest.mark.parametrize("hosts", [None, ""])
def test_production_refuses_empty_allowed_hosts(tmp_path, hosts):
    env = {"DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": GOOD_KEY}
    if hosts is not None:
        env["ALLOWED_HOSTS"] = hosts
    assert_refused(manage(tmp_path, "check", **env), "ALLOWED_HOSTS")


def test_production_starts_with_real_values(tmp_path):
    result = manage(
        tmp_path, "check", DJANGO_DEBUG="false", DJANGO_SECRET_KEY=GOOD_KEY, ALLOWED_HOSTS="a.example", REDIS_URL=REDIS
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_debug_runs_on_development_defaults(tmp_path):
    # `make run` on a fresh machine sets nothing but DJANGO_DEBUG=true.
    result = manage(tmp_path, "check", DJANGO_DEBUG="true")
    assert result.returncode == 0, result.stderr


def test_deploy_check_is_clean_under_production_settings(tmp_path):
    production = {
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": GOOD_KEY,
        "ALLOWED_HOSTS": "atrium.example.com",
        "SECURE_SSL_REDIRECT": "true",
        "METRICS_TOKEN": "deploy-check-token",
        "REDIS_URL": REDIS,
    }
    # A deploy provisions its signing key first, as the runbook says.
    added = manage(tmp_path, "jwt_keys", "add", **production)
    assert added.returncode == 0, added.stderr
    result = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **production)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_a_per_process_revocation_store(tmp_path):
    # Without Redis every worker would keep its own logouts and lockouts: refuse, naming the variable.
    env = {"DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": GOOD_KEY, "ALLOWED_HOSTS": "a.example"}
    assert_refused(manage(tmp_path, "check", **env), "REDIS_URL")
    assert_refused(manage(tmp_path, "check", **env, REDIS_URL="localhost:6379"), "REDIS_URL")
    assert_refused(manage(tmp_path, "check", **env, ATRIUM_SINGLE_PROCESS="false"), "REDIS_URL")
    # One process only, declared by the operator: its own cache is the shared one.
    single = manage(tmp_path, "check", **env, ATRIUM_SINGLE_PROCESS="true")
    assert single.returncode == 0, single.stderr
