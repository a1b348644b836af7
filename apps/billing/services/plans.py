"""The plan catalogue's seed: the built-in plans written to the table, idempotent."""

from __future__ import annotations

from django.db import transaction

from apps.billing.catalogue import DEFAULT_PLANS
from apps.billing.models import Plan
from apps.billing.selectors import plan_cache_clear


@transaction.atomic
def plan_seed() -> list[str]:
    """Create the built-in plans that are missing; returns the codes created. Existing rows are left as edited."""
    created: list[str] = []
    for plan in DEFAULT_PLANS:
        _, made = Plan.objects.get_or_create(code=plan["code"], defaults={k: v for k, v in plan.items() if k != "code"})
        if made:
            created.append(plan["code"])
    plan_cache_clear()
    return created
