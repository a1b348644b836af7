# An index for `email__iexact` on accounts (UPPER(email) = UPPER(%s)): sign-in, password resets,
# sign-up and invitations look an account up by its address, and read the whole table without it.
# A plain CREATE INDEX: it holds writes to identity_user while it builds (about a second per million
# accounts); docs/runbooks/deploy.md says how to build it first on a large installation.

import django.db.models.functions.text
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('identity', '0007_api_keys'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='user',
            index=models.Index(django.db.models.functions.text.Upper('email'), name='identity_user_email_upper'),
        ),
    ]
