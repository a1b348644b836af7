"""factory_boy factories for identity. Tenant-owned rows take the tenant from their parent."""

from __future__ import annotations

import factory

from apps.identity.models import Membership, Portal, Role, Tenant, User

# Every `UserFactory` user signs in with this password.
PASSWORD = "correct horse battery staple"


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())


class PortalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Portal

    tenant = factory.SubFactory(TenantFactory)
    slug = factory.Sequence(lambda n: f"portal-{n}")
    name = factory.LazyAttribute(lambda o: f"{o.slug} portal")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    name = factory.Sequence(lambda n: f"User {n}")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def system_role(code: str) -> Role:
    """The system role `code`, with its real grants (seeded on first use)."""
    from apps.identity.services.tenants import system_role as seeded_system_role

    return seeded_system_role(code)


def make_membership(*, user: User, tenant: Tenant, role: str = "member") -> Membership:
    from apps.common.tenancy import tenant_context

    with tenant_context(tenant):
        return Membership.objects.create(user=user, tenant=tenant, role=system_role(role))
