"""Subscriptions: one per tenant, its status moves, plan changes, and the tenant row's mirror.

Status moves (`TRANSITIONS`): trialing → active / past_due / canceled;
active → past_due / canceled; past_due → active / canceled; canceled → active
(a plan change reactivates). Every write mirrors the plan and status on the
tenant row through identity's `tenant_plan_mirror`, in the same transaction,
so the next request's entitlements follow at once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Final

from django.db import transaction
from django.utils import timezone

from apps.billing.catalogue import FREE
from apps.billing.models import Subscription
from apps.billing.periods import add_interval
from apps.billing.providers import provider_get
from apps.billing.selectors import PlanView, plan_get
from apps.common.exceptions import ApplicationError, Conflict, NotFound
from apps.common.tenancy import tenant_context
from apps.identity.models import Tenant, User
from apps.identity.plugs import domain_event
from apps.identity.selectors.tenant_walk import tenants_each
from apps.identity.services.audit import audit_record
from apps.identity.services.tenant_plan import tenant_plan_mirror
from apps.identity.services.tenants import tenant_lock

logger = logging.getLogger("atrium.billing")

S = Subscription.Status
TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    S.TRIALING: frozenset({S.ACTIVE, S.PAST_DUE, S.CANCELED}),
    S.ACTIVE: frozenset({S.PAST_DUE, S.CANCELED}),
    S.PAST_DUE: frozenset({S.ACTIVE, S.CANCELED}),
    S.CANCELED: frozenset({S.ACTIVE}),
}


def can_transition(current: str, target: str) -> bool:
    return current == target or target in TRANSITIONS.get(current, frozenset())


def subscription_transition(*, subscription: Subscription, to: str) -> None:
    """Move the status (not saved); 409 for a move the rules do not allow."""
    if not can_transition(subscription.status, to):
        raise Conflict(f"A {subscription.status} subscription cannot become {to}.", status_from=subscription.status)
    if to == S.CANCELED and subscription.status != S.CANCELED:
        subscription.canceled_at = timezone.now()
    subscription.status = to


def subscription_mirror(*, subscription: Subscription) -> None:
    """Write the plan and status on the tenant row (identity's service; billing never writes that table)."""
    tenant_plan_mirror(
        tenant_id=subscription.tenant_id, plan_code=subscription.plan_code, subscription_status=subscription.status
    )


def _start(subscription: Subscription, plan: PlanView, now: datetime) -> None:
    """A fresh start on `plan`: a trial when it has one, else active with a period from now."""
    subscription.plan_code = plan.code
    subscription.current_period_start = now
    if plan.trial_days and plan.price_cents:
        subscription.status = S.TRIALING
        subscription.trial_ends_at = now + timedelta(days=plan.trial_days)
        subscription.current_period_end = subscription.trial_ends_at
    else:
        subscription.status = S.ACTIVE
        subscription.trial_ends_at = None
        subscription.current_period_end = add_interval(now, interval=plan.interval)


def subscription_changed_publish(*, tenant: Tenant, subscription: Subscription, source: str) -> None:
    """The `subscription.changed` domain event (outbound webhooks), in the transaction of the change."""
    data = {"subscription_id": str(subscription.id), "plan": subscription.plan_code, "status": subscription.status}
    domain_event(tenant=tenant, event="subscription.changed", data={**data, "source": source})


def subscription_create(*, tenant: Tenant, now: datetime | None = None) -> Subscription:
    """The tenant's subscription on its mirrored plan; the existing one if any."""
    existing: Subscription | None = Subscription.objects.filter(tenant_id=tenant.id).first()
    if existing is not None:
        return existing
    return _subscription_open(tenant=tenant, now=now, fresh_tenant=False)


def on_tenant_created(tenant: Tenant) -> None:
    """identity's "tenant created" plug: runs inside the creating transaction and tenant context.

    The tenant row was inserted in this very transaction, so nothing needs reading back: it has
    no subscription yet, and it holds the plan code and status it was created with (the mirror
    writes only when the subscription's differ, e.g. a trial).
    """
    _subscription_open(tenant=tenant, now=None, fresh_tenant=True)


def _subscription_open(*, tenant: Tenant, now: datetime | None, fresh_tenant: bool) -> Subscription:
    try:
        plan = plan_get(code=tenant.plan_code)  # kept in the process (PLAN_CACHE_SECONDS)
    except NotFound:
        plan = plan_get(code=FREE)
    subscription = Subscription(tenant_id=tenant.id, provider=provider_get().name)
    _start(subscription, plan, now or timezone.now())
    subscription.save()
    mirrored = (tenant.plan_code, tenant.subscription_status) == (subscription.plan_code, subscription.status)
    if not (fresh_tenant and mirrored):
        subscription_mirror(subscription=subscription)
    audit_record(
        tenant=tenant,
        action="billing.subscription_created",
        target=("subscription", str(subscription.id)),
        data={"plan": plan.code, "status": subscription.status},
    )
    return subscription


def subscription_lock(*, tenant: Tenant) -> Subscription:
    """The tenant's subscription, locked (after the tenant's row lock); created first if it has none."""
    tenant_lock(tenant_id=tenant.id)
    subscription: Subscription | None = Subscription.objects.select_for_update().filter(tenant_id=tenant.id).first()
    if subscription is None:
        subscription_create(tenant=tenant)
        subscription = Subscription.objects.select_for_update().get(tenant_id=tenant.id)
    return subscription


@transaction.atomic
def subscription_change(*, tenant: Tenant, actor: User, plan: str, ip: str | None = None) -> Subscription:
    """Move the tenant to `plan`; the next request's entitlements are the new plan's.

    Unknown plan: 400. Same plan: nothing changes. A trial carries over to
    another paid plan with a trial; moving to a plan without a price or trial
    ends it (active from now). A canceled subscription is reactivated (a new
    period from now). A past-due subscription can only move to `free` until
    its open invoices are paid (409).
    """
    try:
        target = plan_get(code=plan)
    except NotFound as exc:
        raise ApplicationError(f"No plan {plan!r}.", errors={"plan": [f"Unknown plan {plan!r}."]}) from exc
    subscription = subscription_lock(tenant=tenant)
    before = (subscription.plan_code, subscription.status)
    if subscription.plan_code == target.code and subscription.status != S.CANCELED:
        return subscription
    if subscription.status == S.PAST_DUE and target.code != FREE:
        raise Conflict("The subscription is past due: pay the open invoices first, or move to the free plan.")
    now = timezone.now()
    provider_get().change_plan(subscription=subscription, plan=target)
    if subscription.status == S.CANCELED:
        subscription_transition(subscription=subscription, to=S.ACTIVE)
        subscription.canceled_at = None
        subscription.plan_code = target.code
        subscription.trial_ends_at = None
        subscription.current_period_start = now
        subscription.current_period_end = add_interval(now, interval=target.interval)
    elif subscription.status == S.TRIALING and not (target.trial_days and target.price_cents):
        subscription_transition(subscription=subscription, to=S.ACTIVE)
        subscription.plan_code = target.code
        subscription.trial_ends_at = None
        subscription.current_period_start = now
        subscription.current_period_end = add_interval(now, interval=target.interval)
    else:
        subscription.plan_code = target.code
    subscription.save()
    subscription_mirror(subscription=subscription)
    audit_record(
        tenant=tenant,
        actor=actor,
        action="billing.plan_changed",
        target=("subscription", str(subscription.id)),
        ip=ip,
        data={"from": before[0], "to": target.code, "status_from": before[1], "status": subscription.status},
    )
    logger.info("billing.plan_changed", extra={"tenant_slug": tenant.slug, "from": before[0], "to": target.code})
    subscription_changed_publish(tenant=tenant, subscription=subscription, source="api")
    return subscription


def subscription_ensure_all() -> int:
    """Give every tenant without one a subscription on its mirrored plan (operator: tenants made before billing).

    Walks every tenant not offboarded (`tenants_each`) and works inside each tenant's context, as
    the periodic jobs do. Returns how many were created.
    """
    created = 0
    for tenant in tenants_each():
        with tenant_context(tenant), transaction.atomic():
            if not Subscription.objects.filter(tenant_id=tenant.id).exists():
                subscription_create(tenant=tenant)
                created += 1
    return created
