# Indexes so the outbox is never read whole: `outbox_purge`'s daily look for done rows past retention
# and `outbox_sweep`'s stale pass (partial, on done and on relayed rows), and a tenant's rows for
# export and offboarding.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('common', '0003_rls_operator_bypass'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='outboxmessage',
            index=models.Index(condition=models.Q(('status', 'done')), fields=['done_at'], name='common_outbox_done_at'),
        ),
        migrations.AddIndex(
            model_name='outboxmessage',
            index=models.Index(condition=models.Q(('status', 'relayed')), fields=['relayed_at'], name='common_outbox_relayed_at'),
        ),
        migrations.AddIndex(
            model_name='outboxmessage',
            index=models.Index(fields=['tenant_id'], name='common_outbox_tenant'),
        ),
    ]
