"""Give every tenant that exists before flows (the demo tenants, say) the default onboarding steps.

New tenants get them from the "tenant created" plug (`FlowsConfig.ready`). This
copy of the default steps is frozen with the migration, as migrations must be;
`apps.flows.services.onboarding.DEFAULT_ONBOARDING_STEPS` is the living list.
Idempotent: a tenant that already has the flow keeps it, and only missing step
codes are added. Runs as the operator role, across tenants (the RLS bypass).
"""

import uuid

from django.db import migrations
from django.utils import timezone

DEFAULT_STEPS = (
    ("complete_profile", "Complete your profile"),
    ("secure_account", "Turn on two-factor authentication"),
    ("explore_portal", "Explore your portal"),
)


def seed_existing_tenants(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("SELECT set_config('app.bypass_rls', 'on', true)")
    seed_tenants(apps)


def seed_tenants(apps):
    """Add the onboarding flow and its missing steps to every tenant; how many steps were added."""
    Tenant = apps.get_model("identity", "Tenant")
    FlowDefinition = apps.get_model("flows", "FlowDefinition")
    Step = apps.get_model("flows", "Step")
    added = 0
    now = timezone.now()
    for tenant_id in Tenant._base_manager.order_by("pk").values_list("pk", flat=True):
        flow = FlowDefinition._base_manager.filter(tenant_id=tenant_id, code="onboarding", portal=None).first()
        if flow is None:
            flow = FlowDefinition._base_manager.create(
                id=uuid.uuid4(), tenant_id=tenant_id, code="onboarding", name="Onboarding", portal=None,
                created_at=now,
            )
        have = set(Step._base_manager.filter(flow=flow).values_list("code", flat=True))
        missing = [
            Step(id=uuid.uuid4(), tenant_id=tenant_id, flow=flow, code=code, title=title, order=(i + 1) * 10,
                 created_at=now)
            for i, (code, title) in enumerate(DEFAULT_STEPS)
            if code not in have
        ]
        Step._base_manager.bulk_create(missing)
        added += len(missing)
    return added


class Migration(migrations.Migration):

    dependencies = [
        ("flows", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(seed_existing_tenants, migrations.RunPython.noop),
    ]
