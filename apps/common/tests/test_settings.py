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

GOOD_KEY = secrets.token_urlsafe(50)
# A shared store for revocation and lockout (production refuses to start without one); `check` does not connect.
REDIS = "redis://127.0.0.1:6379/0"


def manage(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`manage.py` with exactly the environment a case names: nothing inherited from the shell or pytest."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    clean = {
        "PATH": os.environ.get("PATH", os.defpath),
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "PYTHONDONTWRITEBYTECODE": "1",
        # Local state in the case's directory, never the developer's var/ (keys, database, cache).
        "ATRIUM_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "JWT_KEYS_DIR": str(tmp_path / "jwt-keys"),
    }
    clean.update(env)
    return subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), *args],
        cwd=tmp_path,
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


# --------------------------------------------------------------------------- the embedded shared cache

PRODUCTION = {"DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": GOOD_KEY, "ALLOWED_HOSTS": "a.example"}


def test_a_single_process_production_shares_its_cache_with_operator_commands(tmp_path):
    # ATRIUM_SINGLE_PROCESS without Redis: what one process marks (a command), the next (the server) reads.
    env = {**PRODUCTION, "ATRIUM_SINGLE_PROCESS": "true"}
    marked = manage(
        tmp_path,
        "shell",
        "--no-imports",
        "-c",
        "from apps.identity.revocation import revoke_jti; revoke_jti('j-1')",
        **env,
    )
    assert marked.returncode == 0, marked.stderr
    read = (
        "from django.core.cache import cache; from apps.identity.revocation import jti_key; "
        "print(cache.get(jti_key('j-1')))"
    )
    seen = manage(tmp_path, "shell", "--no-imports", "-c", read, **env)
    assert seen.returncode == 0, seen.stderr
    assert seen.stdout.strip() == "1"
    # Files private to the app's user: the values are pickled.
    assert (tmp_path / "var" / "cache").stat().st_mode & 0o777 == 0o700


# --------------------------------------------------------------------------- links printed by commands

SHOW_BASE_URL = "from django.conf import settings; print(settings.PUBLIC_BASE_URL)"


def _record_served_url(tmp_path: Path, url: str) -> None:
    # What scripts/run.sh writes when `make run HOST=… PORT=…` starts.
    (tmp_path / "var").mkdir(exist_ok=True)
    (tmp_path / "var" / "public-base-url").write_text(url + "\n")


def test_debug_commands_link_to_the_server_make_run_started(tmp_path):
    _record_served_url(tmp_path, "http://127.0.0.1:9000")
    shown = manage(tmp_path, "shell", "--no-imports", "-c", SHOW_BASE_URL, DJANGO_DEBUG="true")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "http://127.0.0.1:9000"


def test_an_explicit_public_base_url_wins_over_the_recorded_one(tmp_path):
    _record_served_url(tmp_path, "http://127.0.0.1:9000")
    shown = manage(
        tmp_path,
        "shell",
        "--no-imports",
        "-c",
        SHOW_BASE_URL,
        DJANGO_DEBUG="true",
        PUBLIC_BASE_URL="https://dev.example",
    )
    assert shown.stdout.strip() == "https://dev.example", shown.stderr


def test_production_never_guesses_its_public_base_url(tmp_path):
    _record_served_url(tmp_path, "http://127.0.0.1:9000")
    shown = manage(tmp_path, "shell", "--no-imports", "-c", SHOW_BASE_URL, **PRODUCTION, REDIS_URL=REDIS)
    assert shown.stdout.strip() == "http://127.0.0.1:8000", shown.stderr


def test_debug_without_a_recorded_url_links_to_the_default_port(tmp_path):
    shown = manage(tmp_path, "shell", "--no-imports", "-c", SHOW_BASE_URL, DJANGO_DEBUG="true")
    assert shown.stdout.strip() == "http://127.0.0.1:8000", shown.stderr


# --------------------------------------------------------------------------- the guard, in process

GUARD_CASES = [
    # (what is set, variable named in the refusal or None when it starts)
    ({"DEBUG": True, "SECRET_KEY": DEV_SECRET_KEY, "ALLOWED_HOSTS": []}, None),
    ({"SECRET_KEY": DEV_SECRET_KEY}, "DJANGO_SECRET_KEY"),
    ({"SECRET_KEY": "x" * 31}, "DJANGO_SECRET_KEY"),
    ({"ALLOWED_HOSTS": [" "]}, "ALLOWED_HOSTS"),
    ({"REDIS_URL": ""}, "REDIS_URL"),
    ({"REDIS_URL": "127.0.0.1:6379"}, "REDIS_URL"),
    ({"REDIS_URL": "rediss://cache.internal:6380/0"}, None),
    ({"REDIS_URL": "", "SINGLE_PROCESS": True}, None),
    ({"REDIS_URL": "", "TESTING": True}, None),
]


@pytest.mark.parametrize(("values", "refused"), GUARD_CASES)
def test_production_guard(monkeypatch, values, refused):
    from django.core.exceptions import ImproperlyConfigured

    from config import env as E
    from config.settings.guard import check_production_settings

    production = {
        "DEBUG": False,
        "SECRET_KEY": GOOD_KEY,
        "ALLOWED_HOSTS": ["a.example"],
        "REDIS_URL": REDIS,
        "SINGLE_PROCESS": False,
        "TESTING": False,
    }
    for name, value in {**production, **values}.items():
        monkeypatch.setattr(E, name, value)
    if refused is None:
        check_production_settings()
    else:
        with pytest.raises(ImproperlyConfigured, match=f"^{refused} "):
            check_production_settings()
