"""`/healthz` says the process is alive; `/readyz` checks what a request needs.

docs/api.md: `/readyz` is 200 or 503 with `{"status": "ok"|"fail", "checks": {name: {"ok", "ms"}}}`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.core.files.storage import InMemoryStorage

pytestmark = pytest.mark.django_db


def assert_check_shape(check: dict) -> None:
    assert isinstance(check["ok"], bool)
    assert isinstance(check["ms"], (int, float))
    assert check["ms"] >= 0


def test_healthz_answers_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_each_check(client, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    expected = {"database", "cache", "storage"} | ({"redis"} if settings.REDIS_URL else set())
    assert set(body["checks"]) == expected
    for check in body["checks"].values():
        assert_check_shape(check)
        assert check["ok"] is True
    assert "no-store" in response["Cache-Control"]


@pytest.mark.redis
def test_readyz_checks_redis_when_configured(client, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    checks = client.get("/readyz").json()["checks"]
    assert checks["redis"]["ok"] is True


def test_readyz_is_ready_before_the_first_upload_creates_the_media_root(client, settings, tmp_path):
    # A fresh deploy has no media directory yet; the first upload would create it.
    settings.MEDIA_ROOT = str(tmp_path / "media" / "not-yet")
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["storage"]["ok"] is True


def test_readyz_fails_naming_unusable_storage(client, settings, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    settings.MEDIA_ROOT = str(blocker / "media")
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    storage = body["checks"]["storage"]
    assert_check_shape(storage)
    assert storage["ok"] is False
    assert body["checks"]["database"]["ok"] is True
    assert "Traceback" not in response.content.decode()
    assert str(tmp_path) not in response.content.decode()


class UnreachableBucket(InMemoryStorage):
    """Stands for S3 when the endpoint does not answer."""

    def exists(self, name: str) -> bool:
        raise ConnectionError("could not connect to the endpoint URL")


@pytest.mark.parametrize(
    ("backend", "status"),
    [("django.core.files.storage.InMemoryStorage", 200), (f"{__name__}.UnreachableBucket", 503)],
)
def test_readyz_probes_remote_storage(client, settings, backend, status):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": backend}}
    response = client.get("/readyz")
    assert response.status_code == status
    assert response.json()["checks"]["storage"]["ok"] is (status == 200)


def test_readyz_fails_naming_an_unreachable_cache(client, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["cache"]["ok"] is False
    assert body["checks"]["storage"]["ok"] is True
    assert "Traceback" not in response.content.decode()


def test_readyz_failure_is_logged_for_the_operator(client, settings, tmp_path, atrium_log_lines):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    settings.MEDIA_ROOT = str(blocker / "media")
    client.get("/readyz")
    (line,) = [line for line in atrium_log_lines() if line["event"] == "readiness_check_failed"]
    assert line["check"] == "storage"
    assert "Error" in line["exception"]


READYZ_SCRIPT = """
import json
import django
django.setup()
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
client = Client(raise_request_exception=False)
for path in ("/healthz", "/readyz"):
    response = client.get(path)
    print(json.dumps({"path": path, "status": response.status_code, "type": response["Content-Type"],
                      "body": response.content.decode()}))
"""


def test_database_outage_is_503_on_readyz_and_healthz_stays_alive(tmp_path, child_env):
    # A real unreachable server (nothing listens on port 1), in a process of its own.
    env = child_env(
        DATABASE_URL="postgres://atrium@127.0.0.1:1/nope",
        MEDIA_ROOT=str(tmp_path),
        DJANGO_SETTINGS_MODULE="config.settings",
        # This run's test settings (config/pytest_env.py), production mode with its memory cache.
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=os.environ["DJANGO_SECRET_KEY"],
        ALLOWED_HOSTS="testserver",
        SECURE_SSL_REDIRECT="false",
        ATRIUM_TESTING="true",
    )
    result = subprocess.run(
        [sys.executable, "-c", READYZ_SCRIPT],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    healthz, outcome = (json.loads(line) for line in result.stdout.strip().splitlines()[-2:])
    # Liveness must not depend on the database, or an outage restarts every healthy process.
    assert (healthz["status"], json.loads(healthz["body"])) == (200, {"status": "ok"})
    assert outcome["status"] == 503
    assert outcome["type"] == "application/json"
    body = json.loads(outcome["body"])
    assert body["status"] == "fail"
    database = body["checks"]["database"]
    assert_check_shape(database)
    assert database["ok"] is False
    assert database["error"] == "OperationalError"
    assert body["checks"]["storage"]["ok"] is True
    assert "Traceback" not in outcome["body"]
    assert "127.0.0.1" not in outcome["body"]
