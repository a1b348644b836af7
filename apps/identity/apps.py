"""Identity app: users, tenants, portals, RBAC, tokens and audit."""

from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "apps.identity"
    label = "identity"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.common.tenancy import register_tenant_loader
        from apps.identity import checks, schema  # noqa: F401 - register the system check and OpenAPI scheme
        from apps.identity.models import Tenant

        register_tenant_loader(lambda tenant_id: Tenant.objects.get(id=tenant_id))
