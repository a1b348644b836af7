# A tenant's Stripe events are found by index for export and offboarding, not by reading them all.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0002_seed_plans_and_subscriptions'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='stripeevent',
            index=models.Index(fields=['tenant_id'], name='billing_stripeevent_tenant'),
        ),
    ]
