from __future__ import annotations

from django.apps import AppConfig


class BillingConfig(AppConfig):
    """Billing answers identity's questions (`identity.plugs`): the catalogue, the limits, new tenants."""

    name = "apps.billing"
    label = "billing"

    def ready(self) -> None:
        from apps.billing import entitlements
        from apps.billing.services import stripe_events  # noqa: F401 - registers its job
        from apps.billing.services.subscriptions import on_tenant_created
        from apps.identity import plugs

        plugs.plugs.plan_catalogue = entitlements.plan_infos
        plugs.plugs.plan_known = entitlements.plan_known
        plugs.plugs.seat_limit = entitlements.seat_limit
        plugs.plugs.portal_limit = entitlements.portal_limit
        plugs.plugs.storage_limit_bytes = entitlements.storage_limit_bytes
        plugs.plugs.plan_features = entitlements.plan_features
        plugs.on_tenant_created(on_tenant_created)
