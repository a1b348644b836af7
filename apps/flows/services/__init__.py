"""Every write of flows and analytics: onboarding (seeding, step completion) and analytics (record, roll-up)."""

from apps.flows.services.analytics import analytics_record, analytics_rollup, analytics_validate
from apps.flows.services.onboarding import (
    DEFAULT_ONBOARDING_STEPS,
    flow_step_complete,
    flow_tenant_created,
    onboarding_seed,
)

__all__ = [
    "DEFAULT_ONBOARDING_STEPS",
    "analytics_record",
    "analytics_rollup",
    "analytics_validate",
    "flow_step_complete",
    "flow_tenant_created",
    "onboarding_seed",
]
