"""Identity app: users, tenants, portals, RBAC, tokens and audit."""

from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "apps.identity"
    label = "identity"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.common.tenancy import register_tenant_loader
        from apps.identity import checks, schema, signals  # noqa: F401 - register checks, OpenAPI scheme, receivers
        from apps.identity.models import Tenant

        register_tenant_loader(lambda tenant_id: Tenant.objects.get(id=tenant_id))
