"""The built-in plans, and a subscription for every tenant that exists before billing (demo data).

Tenants made later get theirs from the "tenant created" plug; `manage.py
billing_sync` gives one to any tenant still without (tenants seeded by hand).
"""

from datetime import UTC, datetime

from django.db import migrations

from apps.billing.catalogue import DEFAULT_BY_CODE, DEFAULT_PLANS, FREE
from apps.billing.periods import add_interval


def seed(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    Subscription = apps.get_model("billing", "Subscription")
    Tenant = apps.get_model("identity", "Tenant")
    for plan in DEFAULT_PLANS:
        Plan.objects.get_or_create(code=plan["code"], defaults={k: v for k, v in plan.items() if k != "code"})
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("SELECT set_config('app.bypass_rls', 'on', true)")
    now = datetime.now(tz=UTC)
    for tenant in Tenant.objects.all():
        if Subscription.objects.filter(tenant_id=tenant.id).exists():
            continue
        code = tenant.plan_code if tenant.plan_code in DEFAULT_BY_CODE else FREE
        # The tenant row's mirror says what it had; identity's table is not written here.
        status = tenant.subscription_status
        if status not in ("active", "past_due", "canceled"):
            status = "active"
        Subscription.objects.create(
            tenant_id=tenant.id,
            plan_code=code,
            status=status,
            current_period_start=now,
            current_period_end=add_interval(now, interval="month"),
        )


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
