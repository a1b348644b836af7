"""The embedded default's cache: files under `var/cache`, one store for every process of the machine.

Without `REDIS_URL` the security state (revocation marks, lockouts, throttles,
MFA tokens, the RBAC version) must still be seen by the server *and* by the
`manage.py` commands an operator runs beside it, or `revoke_sessions` would
end a session in its own memory only. Django's `FileBasedCache` is such a
store, but it was built for throw-away page fragments; security state needs
three things it does not give (docs/adr/0009-embedded-shared-cache.md):

- **Atomic `add` and `incr`**, as Redis' `SET NX` and `INCR`: two processes
  counting failed sign-ins must not both read 4 and both write 5. Every write
  here holds one exclusive lock (a lock file in the cache directory), so
  read-modify-write steps of different processes and threads take turns.
  Reads take no lock: a value is always replaced whole (temporary file, then
  rename), so a reader sees the old value or the new one.
- **`incr` keeps the expiry** of the key, as `INCR` does. Django's generic
  `incr` rewrites the value with the default timeout (300 s), which would
  stretch or shorten lockout and throttle windows.
- **No eviction of live entries.** Past `MAX_ENTRIES` Django deletes a random
  third of the files; a revocation mark deleted that way would make a revoked
  token valid again. Here culling removes expired files only.

Values are pickled, so the directory must be writable by the app's user only:
Django creates it with mode 0700.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.filebased import FileBasedCache
from django.core.files import locks

LOCK_FILE = ".lock"  # not `*.djcache`: never listed, culled or cleared as an entry


class SharedFileCache(FileBasedCache):
    """`FileBasedCache` with atomic writes across processes, `incr` that keeps expiry, and no eviction."""

    if TYPE_CHECKING:  # FileBasedCache's own helpers, which django-stubs leaves out
        _dir: str

        def _createdir(self) -> None: ...
        def _delete(self, fname: str) -> bool: ...
        def _key_to_file(self, key: str, version: int | None = None) -> str: ...
        def _list_cache_files(self) -> list[str]: ...

    def __init__(self, dir: str, params: dict[str, Any]) -> None:
        super().__init__(dir, params)
        self._held = threading.local()

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Hold the directory's write lock (re-entrant within a thread: `add` calls `set`)."""
        depth = getattr(self._held, "depth", 0)
        if depth:
            self._held.depth = depth + 1
            try:
                yield
            finally:
                self._held.depth = depth
            return
        self._createdir()
        with open(os.path.join(self._dir, LOCK_FILE), "ab") as lock:
            locks.lock(lock, locks.LOCK_EX)
            self._held.depth = 1
            try:
                yield
            finally:
                self._held.depth = 0
                locks.unlock(lock)

    def _read(self, fname: str) -> tuple[float | None, Any] | None:
        """(expiry, value) of a live entry, or None when it is missing or expired."""
        try:
            with open(fname, "rb") as f:
                expiry = pickle.load(f)  # noqa: S301 - our own directory, mode 0700
                value = pickle.loads(zlib.decompress(f.read()))  # noqa: S301
        except (FileNotFoundError, EOFError):
            return None
        if expiry is not None and expiry < time.time():
            self._delete(fname)
            return None
        return expiry, value

    def _replace(self, fname: str, expiry: float | None, value: Any) -> None:
        """Write the entry whole, then move it into place: readers never see half a file."""
        fd, tmp_path = tempfile.mkstemp(dir=self._dir)
        try:
            with open(fd, "wb") as f:
                f.write(pickle.dumps(expiry, self.pickle_protocol))
                f.write(zlib.compress(pickle.dumps(value, self.pickle_protocol)))
            os.replace(tmp_path, fname)
        except BaseException:
            with suppress(FileNotFoundError):
                os.remove(tmp_path)
            raise

    def set(self, key: str, value: Any, timeout: float | None = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        with self._exclusive():
            super().set(key, value, timeout, version)

    def add(self, key: str, value: Any, timeout: float | None = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        with self._exclusive():
            return bool(super().add(key, value, timeout, version))

    def incr(self, key: str, delta: int = 1, version: int | None = None) -> Any:
        fname = self._key_to_file(key, version)
        with self._exclusive():
            entry = self._read(fname)
            if entry is None:
                raise ValueError(f"Key '{key}' not found")
            expiry, value = entry
            value = value + delta
            self._replace(fname, expiry, value)
            return value

    def touch(self, key: str, timeout: float | None = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        fname = self._key_to_file(key, version)
        with self._exclusive():
            entry = self._read(fname)
            if entry is None:
                return False
            self._replace(fname, self.get_backend_timeout(timeout), entry[1])
            return True

    def delete(self, key: str, version: int | None = None) -> bool:
        with self._exclusive():
            return bool(super().delete(key, version))

    def clear(self) -> None:
        with self._exclusive():
            super().clear()

    def _cull(self) -> None:
        """Past MAX_ENTRIES, drop what has expired, never a live entry (a revocation mark, a lock)."""
        filelist = self._list_cache_files()
        if len(filelist) < self._max_entries:
            return
        now = time.time()
        for fname in filelist:
            with suppress(FileNotFoundError, EOFError, pickle.UnpicklingError), open(fname, "rb") as f:
                expiry = pickle.load(f)  # noqa: S301
                if expiry is not None and expiry < now:
                    f.close()
                    self._delete(fname)
