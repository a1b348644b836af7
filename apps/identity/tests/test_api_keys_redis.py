"""On Redis a warm key costs one round trip, as an access token does: the revocation and RBAC reads, the
per-key count and the once-a-minute claim go out in one pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from apps.identity.api_key_auth import authenticate_key
from apps.identity.tests.api_keys_support import (
    MEMBERS,
    _fresh_key_cache,  # noqa: F401 - autouse
    key_client,
    make_key,
)

pytestmark = [pytest.mark.django_db, pytest.mark.redis, pytest.mark.usefixtures("rbac_seeded", "pro_plan")]


@contextmanager
def round_trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every round trip to Redis in the block: single commands, and pipelines (one each)."""
    seen: list[str] = []
    command, execute = redis.Redis.execute_command, redis.client.Pipeline.execute

    def counted_command(self: Any, *args: Any, **options: Any) -> Any:
        seen.append(str(args[0]))
        return command(self, *args, **options)

    def counted_pipeline(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append("PIPELINE")
        return execute(self, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(redis.Redis, "execute_command", counted_command)
        patch.setattr(redis.client.Pipeline, "execute", counted_pipeline)
        yield seen


def test_these_tests_run_against_redis():
    assert isinstance(caches["default"], RedisCache)


def test_a_warm_key_is_one_round_trip(tenant, member, monkeypatch):
    _, full_key = make_key(tenant, member("owner"), "member")
    authenticate_key(full_key, ip="198.51.100.7")  # cold
    with round_trips(monkeypatch) as seen:
        authenticate_key(full_key, ip="198.51.100.7")
    assert seen == ["PIPELINE"]


def test_a_key_request_makes_as_many_round_trips_as_a_token_request(tenant, member, portal, api_client, monkeypatch):
    admin = member("admin")
    jwt = api_client(admin, portal)
    _, full_key = make_key(tenant, admin, "admin")
    key = key_client(full_key)
    for client in (jwt, key):
        assert client.get(MEMBERS).status_code == 200
    counts = {}
    for name, client in (("jwt", jwt), ("key", key)):
        with round_trips(monkeypatch) as seen:
            assert client.get(MEMBERS).status_code == 200
        counts[name] = list(seen)
    assert len(counts["key"]) == len(counts["jwt"]), counts
    assert counts["key"].count("PIPELINE") == 1
    assert "MGET" not in counts["key"]
