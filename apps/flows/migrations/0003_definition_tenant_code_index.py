# `flow_definition_for` (portal home pages, checklists) finds a tenant's flow by index: its OR of the
# tenant's and the portal's flow could use neither partial unique index, and read every tenant's flows.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('flows', '0002_seed_onboarding'),
        ('identity', '0009_pending_signup_expiry_index'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='flowdefinition',
            index=models.Index(fields=['tenant', 'code'], name='flows_definition_tenant_code'),
        ),
    ]
