"""The nightly moves of offline subscriptions: expired trials, closed periods, overdue invoices.

`billing_nightly` (`config/cron.py`) walks the (global) tenant table and works
inside each tenant's context, one short transaction per tenant, on the
worker's database role. Subscriptions on Stripe are moved by Stripe's
webhooks instead (`services.stripe_events`).

- A trial past its end becomes active, with a first paid period from the
  trial's end (the offline provider invoices at each period's close).
- A period that has ended is invoiced (plan price plus metered usage over
  what it includes) and the next period starts where it ended.
- An active subscription with an open invoice older than
  `BILLING_INVOICE_DUE_DAYS` becomes past_due.
- Usage readings past their retention are deleted (after the period close
  that may still have needed them).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from apps.billing.models import Subscription
from apps.billing.periods import add_interval
from apps.billing.selectors import entitlements_for, plan_catalogue
from apps.billing.services.invoices import invoice_compute, invoice_overdue_exists
from apps.billing.services.subscriptions import (
    subscription_lock,
    subscription_mirror,
    subscription_transition,
)
from apps.billing.services.usage import usage_prune, usage_rollup
from apps.common.tenancy import tenant_context
from apps.identity.models import Tenant
from apps.identity.selectors.tenant_walk import tenants_each
from apps.identity.services.audit import audit_record

S = Subscription.Status
_MAX_PERIODS = 24  # a subscription idle for years is caught up in bounded steps, night after night


@dataclass
class NightlyReport:
    trials_ended: int = 0
    invoices: int = 0
    past_due: int = 0
    usage_pruned: int = 0


@transaction.atomic
def subscription_trial_expire(*, tenant: Tenant, now: datetime | None = None) -> bool:
    """End the tenant's trial if it is past its end (offline provider): active, first paid period. True if moved."""
    now = now or timezone.now()
    subscription = subscription_lock(tenant=tenant)
    if subscription.status != S.TRIALING or subscription.provider != Subscription.Provider.OFFLINE:
        return False
    if subscription.trial_ends_at is None or subscription.trial_ends_at > now:
        return False
    plan = plan_catalogue().get(subscription.plan_code) or entitlements_for(tenant)
    subscription_transition(subscription=subscription, to=S.ACTIVE)
    subscription.current_period_start = subscription.trial_ends_at
    subscription.current_period_end = add_interval(subscription.trial_ends_at, interval=plan.interval)
    subscription.save()
    subscription_mirror(subscription=subscription)
    audit_record(
        tenant=tenant,
        action="billing.trial_ended",
        target=("subscription", str(subscription.id)),
        data={"plan": subscription.plan_code, "status": subscription.status},
    )
    return True


@transaction.atomic
def subscription_period_close(*, tenant: Tenant, now: datetime | None = None) -> int:
    """Invoice each ended period of an active or past-due offline subscription and start the next. Returns how many."""
    now = now or timezone.now()
    subscription = subscription_lock(tenant=tenant)
    if subscription.status not in (S.ACTIVE, S.PAST_DUE) or subscription.provider != Subscription.Provider.OFFLINE:
        return 0
    plan = plan_catalogue().get(subscription.plan_code) or entitlements_for(tenant)
    closed = steps = 0
    while subscription.current_period_end <= now and steps < _MAX_PERIODS:
        start, end = subscription.current_period_start, subscription.current_period_end
        steps += 1
        if steps == 1:
            # The period just ended gets its last roll-up (later ones, caught up after a gap, had no traffic).
            usage_rollup(tenant=tenant, now=end - timedelta(microseconds=1))
        _, created = invoice_compute(tenant=tenant, plan=plan, period_start=start, period_end=end, now=now)
        closed += int(created)
        subscription.current_period_start = end
        subscription.current_period_end = add_interval(end, interval=plan.interval)
    subscription.save()
    return closed


@transaction.atomic
def subscription_overdue_check(*, tenant: Tenant, now: datetime | None = None) -> bool:
    """An active subscription with an overdue open invoice becomes past_due. True if moved."""
    now = now or timezone.now()
    subscription = subscription_lock(tenant=tenant)
    if subscription.status != S.ACTIVE or not invoice_overdue_exists(tenant=tenant, now=now):
        return False
    subscription_transition(subscription=subscription, to=S.PAST_DUE)
    subscription.save(update_fields=["status", "updated_at"])
    subscription_mirror(subscription=subscription)
    audit_record(tenant=tenant, action="billing.past_due", target=("subscription", str(subscription.id)))
    return True


def billing_nightly(*, now: datetime | None = None, tenant_ids: Collection[str] | None = None) -> NightlyReport:
    """Trials, period closes and overdue checks of each subscription; old usage readings pruned.

    Every tenant not offboarded, or only `tenant_ids`. Nightly, one job per batch of tenants
    (`apps.billing.periodic`, `config/cron.py`).
    """
    now = now or timezone.now()
    report = NightlyReport()
    for tenant in tenants_each(ids=tenant_ids):
        with tenant_context(tenant):
            if Subscription.objects.filter(tenant_id=tenant.id).exists():
                report.trials_ended += subscription_trial_expire(tenant=tenant, now=now)
                report.invoices += subscription_period_close(tenant=tenant, now=now)
                report.past_due += subscription_overdue_check(tenant=tenant, now=now)
            with transaction.atomic():
                report.usage_pruned += usage_prune(tenant=tenant, now=now)
    return report
