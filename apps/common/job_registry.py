"""The registry of tenant jobs by dotted path: the only callables a stored job path resolves to.

`@tenant_job` (`apps.common.jobs`) registers each job here; the outbox resolves
a message's path here before relaying or running it. Kept apart from both so
neither imports the other's module to find it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from django.utils.module_loading import import_string
from rq import Retry


class RegisteredJob(Protocol):
    path: str
    queue: str
    retry: Retry | None

    def run(self, *, tenant_id: Any | None, kwargs: Mapping[str, Any]) -> None: ...


class UnknownJob(LookupError):
    """A job path that names no `@tenant_job` function (renamed, removed or never a job)."""


_registry: dict[str, RegisteredJob] = {}


def job_register(job: RegisteredJob) -> None:
    _registry[job.path] = job


def resolve_job(path: str) -> RegisteredJob:
    """The registered job at `path`, importing its module if this process has not yet."""
    job = _registry.get(path)
    if job is None:
        try:
            candidate = import_string(path)
        except ImportError as exc:
            raise UnknownJob(path) from exc
        # Only registered jobs run: a stored path never reaches an arbitrary callable.
        job = _registry.get(path)
        if job is None or candidate is not job:
            raise UnknownJob(path)
    return job
