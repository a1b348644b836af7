"""Billing's RQ entry points: load, enter the tenant context (the decorator does), call one service."""

from __future__ import annotations

from apps.common.jobs import tenant_job
from apps.identity.models import Tenant


@tenant_job(queue="billing")
def stripe_event_apply_job(*, tenant: Tenant, event_id: str) -> None:
    """The effects of a recorded Stripe event, applied once in its tenant's context."""
    from apps.billing.services.stripe_events import stripe_event_apply  # services defer this job

    stripe_event_apply(tenant=tenant, event_id=event_id)
