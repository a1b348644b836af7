"""The RBAC version: one counter in the shared cache that says "roles or permissions changed".

It lives under `RBAC_VERSION_KEY` in the Django cache (Redis in production), so
every process sees the same number. Each process tags its in-process role map
(`role_map`) with the version it loaded under and reloads when the number
moves. A check usually reads the version in the same cache round trip as the
token revocation keys (`cache.get_many([RBAC_VERSION_KEY, ...])`, then
`rbac_version_from(values.get(RBAC_VERSION_KEY))`).

Writers call `role_map.bump_rbac_version()`, which defers the increment to the
commit; `increment_version()` here is the increment itself.
"""

from __future__ import annotations

import secrets

from django.core.cache import cache as django_cache

RBAC_VERSION_KEY = "rbac:version"


def _fresh_epoch() -> int:
    # Random, not 1: after a cache flush a process may still hold a map tagged
    # with a small number, and restarting the count could land on it again.
    return secrets.randbelow(2**52) + 1


def rbac_version_from(value: object) -> int:
    """The RBAC version from an already-fetched cache value (e.g. a `get_many` result).

    A missing value (never bumped, evicted, flushed) starts a new random epoch,
    which costs one extra round trip once.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    epoch = _fresh_epoch()
    django_cache.add(RBAC_VERSION_KEY, epoch, timeout=None)  # only one process's epoch wins
    current = django_cache.get(RBAC_VERSION_KEY)
    return current if isinstance(current, int) else epoch


def rbac_version() -> int:
    """The current RBAC version: one cache round trip."""
    return rbac_version_from(django_cache.get(RBAC_VERSION_KEY))


def increment_version() -> int:
    """Move the version on now, unconditionally. Callers want `bump_rbac_version()`, which waits for the commit."""
    try:
        return int(django_cache.incr(RBAC_VERSION_KEY))
    except ValueError:  # missing: start an epoch (add is atomic), then count from it
        django_cache.add(RBAC_VERSION_KEY, _fresh_epoch(), timeout=None)
        return int(django_cache.incr(RBAC_VERSION_KEY))
