"""The tenant row's mirror of its subscription: plan code and status, written for billing.

Billing owns the catalogue and the transitions; identity owns the tenant row.
Billing calls this service (never writes identity's table itself) in the same
transaction as the subscription change, so the mirror and the subscription
commit together and the next request, which loads the tenant row fresh, sees
the new plan.
"""

from __future__ import annotations

from uuid import UUID

from django.utils import timezone

from apps.identity.models import Tenant


def tenant_plan_mirror(*, tenant_id: UUID | str, plan_code: str, subscription_status: str) -> bool:
    """Write the plan code and subscription status on the tenant row; True when it changed anything."""
    changed = (
        Tenant.objects.filter(id=tenant_id)
        .exclude(plan_code=plan_code, subscription_status=subscription_status)
        .update(plan_code=plan_code, subscription_status=subscription_status, updated_at=timezone.now())
    )
    return bool(changed)
