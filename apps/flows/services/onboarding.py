"""Onboarding: the default steps every tenant starts with, and a user completing one.

The checklist itself is a read (`apps.flows.selectors.checklist_get`): showing
it writes nothing. A user's `FlowRun` is made when they complete their first
step, and completed with the last one.
"""

from __future__ import annotations

from typing import Final

from django.db import transaction
from django.utils import timezone

from apps.common.exceptions import NotFound
from apps.common.tenancy import TenantLike
from apps.flows.models import ONBOARDING, FlowDefinition, FlowRun, Step, StepCompletion
from apps.flows.selectors import Checklist, checklist_get, flow_definition_for
from apps.flows.services.analytics import allowed_events, analytics_record
from apps.identity.models import Tenant, User
from apps.identity.plugs import domain_event
from apps.identity.services.audit import audit_record

STEP_COMPLETED_EVENT: Final = "onboarding_step_completed"
# (code, title) in order. The data migration 0002 carries its own copy, as migrations must.
DEFAULT_ONBOARDING_STEPS: Final[tuple[tuple[str, str], ...]] = (
    ("complete_profile", "Complete your profile"),
    ("secure_account", "Turn on two-factor authentication"),
    ("explore_portal", "Explore your portal"),
)


def onboarding_seed(*, tenant: TenantLike) -> int:
    """Give `tenant` the default onboarding flow and the steps it lacks (call inside its context); how many added.

    Idempotent: an existing flow and existing step codes are left as they are,
    so a tenant's own edits survive a rerun.
    """
    flow, _ = FlowDefinition.objects.get_or_create(
        tenant_id=tenant.id, code=ONBOARDING, portal=None, defaults={"name": "Onboarding"}
    )
    have = set(Step.objects.filter(flow=flow).values_list("code", flat=True))
    missing = _default_steps(tenant=tenant, flow=flow, skip=have)
    Step.objects.bulk_create(missing)
    return len(missing)


def _default_steps(*, tenant: TenantLike, flow: FlowDefinition, skip: set[str] | None = None) -> list[Step]:
    return [
        Step(tenant_id=tenant.id, flow=flow, code=code, title=title, order=(index + 1) * 10)
        for index, (code, title) in enumerate(DEFAULT_ONBOARDING_STEPS)
        if code not in (skip or set())
    ]


def flow_tenant_created(tenant: Tenant) -> None:
    """The "tenant created" plug (`identity.plugs`): runs in the creating transaction, in the tenant's context.

    A tenant just created has no flow yet, so its onboarding is two inserts and no reads
    (`onboarding_seed` is the idempotent form, for tenants that may have some already).
    """
    flow = FlowDefinition.objects.create(tenant_id=tenant.id, code=ONBOARDING, portal=None, name="Onboarding")
    Step.objects.bulk_create(_default_steps(tenant=tenant, flow=flow))


@transaction.atomic
def flow_step_complete(
    *, tenant: Tenant, actor: User, code: str, portal: str = "", flow: str = ONBOARDING
) -> Checklist:
    """Mark step `code` done for `actor`; the checklist after it. 404 for a step the flow lacks.

    Idempotent: completing a done step changes nothing and records nothing. The
    run row is locked, so two completions racing for the last steps still
    complete the run exactly once.
    """
    definition = flow_definition_for(code=flow, portal=portal)
    step = Step.objects.filter(flow=definition, code=code).first() if definition is not None else None
    if definition is None or step is None:
        raise NotFound(f"The {flow} flow has no step {code!r}.")
    run, _ = FlowRun.objects.get_or_create(flow=definition, user=actor)
    run = FlowRun.objects.select_for_update().get(pk=run.pk)
    _, created = StepCompletion.objects.get_or_create(run=run, step=step)
    if created:
        audit_record(
            tenant=tenant, actor=actor, action="flow.step_completed", target=step, data={"flow": flow, "step": code}
        )
        completed = {"flow": flow, "step": code, "user_id": str(actor.id)}
        domain_event(tenant=tenant, event="flow.step_completed", data=completed)
        if STEP_COMPLETED_EVENT in allowed_events():
            analytics_record(
                tenant=tenant,
                user_id=actor.id,
                portal=portal,
                event=STEP_COMPLETED_EVENT,
                properties={"flow": flow, "step": code},
            )
        if run.completed_at is None:
            done = StepCompletion.objects.filter(run=run).values("step_id")
            if not Step.objects.filter(flow=definition).exclude(id__in=done).exists():
                run.completed_at = timezone.now()
                run.save(update_fields=["completed_at", "updated_at"])
    return checklist_get(tenant=tenant, user_id=actor.id, portal=portal, flow=flow)
