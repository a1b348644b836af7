# API keys (docs/adr/0015-api-keys-in-identity.md): the tenant table behind row-level security, and the
# global prefix -> tenant lookup that authentication reads before the tenant is known.

import django.db.models.deletion
import django.utils.timezone
import uuid
from django.conf import settings
from django.db import migrations, models

import apps.common.rls


class Migration(migrations.Migration):

    dependencies = [
        ('identity', '0006_user_memberships_function'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ApiKey',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('name', models.CharField(max_length=100)),
                ('role_code', models.SlugField(max_length=50)),
                ('prefix', models.CharField(max_length=16, unique=True)),
                ('secret_hash', models.CharField(max_length=64)),
                ('expires_at', models.DateTimeField(blank=True, null=True)),
                ('revoked_at', models.DateTimeField(blank=True, null=True)),
                ('last_used_at', models.DateTimeField(blank=True, null=True)),
                ('last_used_ip', models.GenericIPAddressField(blank=True, null=True)),
                ('created_by', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('tenant', models.ForeignKey(db_index=False, editable=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='identity.tenant')),
            ],
            options={
                'abstract': False,
                'default_permissions': (),
                'base_manager_name': 'objects',
                'indexes': [models.Index(fields=['tenant', '-created_at', '-id'], name='identity_apikey_tenant_newest')],
            },
        ),
        migrations.CreateModel(
            name='ApiKeyPrefix',
            fields=[
                ('prefix', models.CharField(max_length=16, primary_key=True, serialize=False)),
                ('api_key_id', models.UUIDField(unique=True)),
                ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='identity.tenant')),
            ],
            options={
                'default_permissions': (),
            },
        ),
        # Row-level security (PostgreSQL; no-op on SQLite).
        apps.common.rls.EnableRowLevelSecurity(model_name="apikey"),
    ]
