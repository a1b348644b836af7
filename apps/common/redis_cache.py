"""Django's Redis cache, with one client per connection pool instead of one per call.

Django's `RedisCacheClient.get_client` builds a new `redis.Redis` for every cache call, and
redis-py's constructor copies its table of ~170 response callbacks each time: about 0.1 ms
of CPU per call, paid by every authenticated request (the revocation check) and several
times per sign-in. The client object holds nothing but its pool, so one per pool is
reused. Fork-safe as the pools are: redis-py's pool notices a new pid and opens its own
connections, and the client only reaches sockets through it.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class _Client(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        # Django's private helpers, which its own `get_client` uses (the stubs do not declare them).
        index = self._get_connection_pool_index(write)  # type: ignore[attr-defined]
        client = self._clients.get(index)
        if client is None:
            pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
            client = self._clients[index] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client


class RedisCache(DjangoRedisCache):
    """`django.core.cache.backends.redis.RedisCache`, reusing its clients (see the module)."""

    @cached_property
    def _cache(self) -> _Client:
        return _Client(self._servers, **self._options)  # type: ignore[attr-defined]
