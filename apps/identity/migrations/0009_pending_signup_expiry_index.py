# The daily purge of expired sign-up passwords reads only the expired rows.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('identity', '0008_user_email_lookup_index'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='pendingsignup',
            index=models.Index(fields=['expires_at'], name='identity_pendingsignup_expiry'),
        ),
    ]
