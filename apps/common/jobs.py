"""RQ jobs that carry their tenant: the `@tenant_job` decorator (registered in `apps.common.job_registry`).

A job is a module-level function of keyword arguments that are JSON-serialisable
(ids and strings, never model instances: the row may change before the job
runs). Decorating it registers it by dotted path:

    @tenant_job(queue="mail")
    def invitation_send_job(*, tenant: Tenant, invitation_id: str) -> None: ...

    invitation_send_job.defer(invitation_id=str(invitation.id))

`defer()` writes an outbox row in the caller's transaction (see
`apps.common.outbox`), recording the current tenant (or the `tenant=` passed
explicitly); the worker runs the function inside
`tenant_context(load_tenant(tenant_id))`, or `tenant_context(None)` when no
tenant was recorded. A function with a `tenant` parameter receives the loaded
tenant. UUIDs and datetimes in the kwargs arrive as strings.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, ParamSpec

from rq import Retry

from apps.common.job_registry import job_register
from apps.common.outbox import outbox_enqueue
from apps.common.tenancy import TenantLike, current_tenant_id, load_tenant, tenant_context

if TYPE_CHECKING:
    from apps.common.models import OutboxMessage

P = ParamSpec("P")

DEFAULT_RETRY = Retry(max=3, interval=[10, 60, 300])

_UNSET: Any = object()


class TenantJob(Generic[P]):
    """A registered job: call it directly, or `defer(**kwargs)` it through the outbox."""

    def __init__(self, fn: Callable[P, object], *, queue: str, retry: Retry | None) -> None:
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.path = f"{fn.__module__}.{fn.__qualname__}"
        self.queue = queue
        self.retry = retry
        self.takes_tenant = "tenant" in inspect.signature(fn).parameters

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> object:
        """Run now, in the caller's context (tests, or a job calling another inline)."""
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<TenantJob {self.path} queue={self.queue}>"

    def defer(self, **kwargs: Any) -> OutboxMessage:
        """Promise this job in the caller's transaction; it runs only if that transaction commits.

        `tenant=` overrides the tenant recorded (default: the current one;
        `tenant=None` records none).
        """
        tenant: TenantLike | None = kwargs.pop("tenant", _UNSET)
        tenant_id = current_tenant_id() if tenant is _UNSET else (tenant.id if tenant is not None else None)
        return outbox_enqueue(job_path=self.path, kwargs=kwargs, queue=self.queue, tenant_id=tenant_id)

    def run(self, *, tenant_id: Any | None, kwargs: Mapping[str, Any]) -> None:
        """Run as the worker does: inside the recorded tenant's context (none → no tenant)."""
        tenant = load_tenant(tenant_id) if tenant_id is not None else None
        call_kwargs = dict(kwargs)
        if self.takes_tenant:
            call_kwargs["tenant"] = tenant
        with tenant_context(tenant):
            self.fn(**call_kwargs)  # type: ignore[call-arg]


def tenant_job(
    *, queue: str = "default", retry: Retry | None = DEFAULT_RETRY
) -> Callable[[Callable[P, object]], TenantJob[P]]:
    """Register a function as an RQ job that runs in the tenant context it was deferred in."""

    def register(fn: Callable[P, object]) -> TenantJob[P]:
        job = TenantJob(fn, queue=queue, retry=retry)
        job_register(job)
        return job

    return register
