"""`manage.py billing_sync`: the built-in plans, and a subscription for every tenant still without one.

Idempotent. For tenants made outside `create_tenant` (e.g. by `seed_demo`
after the data migration ran): they get a subscription on the plan their row
names.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from apps.billing.services.plans import plan_seed
from apps.billing.services.subscriptions import subscription_ensure_all


class Command(BaseCommand):
    help = "Seed the built-in plans and give every tenant without one a subscription."

    def handle(self, *args: Any, **options: Any) -> None:
        created = plan_seed()
        subscriptions = subscription_ensure_all()
        self.stdout.write(
            self.style.SUCCESS(f"plans created: {', '.join(created) or 'none'}; subscriptions created: {subscriptions}")
        )
