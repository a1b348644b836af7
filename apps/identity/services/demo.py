"""Demo data for `seed_demo`: two tenants, three portals, four users — idempotent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction

from apps.common.tenancy import tenant_context
from apps.identity import plugs
from apps.identity.models import Membership, Portal, Tenant, User
from apps.identity.services.tenants import system_role


@dataclass(frozen=True)
class DemoUser:
    email: str
    name: str
    tenant: str
    role: str
    portal: str


DEMO_TENANTS = {"acme": "Acme Corporation", "globex": "Globex"}
DEMO_PORTALS = [
    # (tenant, slug, name, admitted roles, default, primary colour): each portal looks like its own
    ("acme", "acme", "Acme Customer Portal", ["owner", "admin", "member"], True, "#3b5bdb"),
    ("acme", "acme-admin", "Acme Staff Portal", ["owner", "admin"], False, "#7a2e0e"),
    ("globex", "globex", "Globex Portal", ["owner", "admin", "member"], True, "#087443"),
]
DEMO_USERS = [
    DemoUser("owner@acme.test", "Olivia Owner", "acme", "owner", "acme"),
    DemoUser("admin@acme.test", "Adam Admin", "acme", "admin", "acme"),
    DemoUser("member@acme.test", "Mia Member", "acme", "member", "acme"),
    DemoUser("owner@globex.test", "Greta Owner", "globex", "owner", "globex"),
]


@dataclass
class DemoResult:
    passwords: dict[str, str] = field(default_factory=dict)
    summary: list[str] = field(default_factory=list)


@transaction.atomic
def demo_seed(*, password: str | None, make_password: Callable[[], str]) -> DemoResult:
    """Create what is missing; with `password`, (re)set it for every demo user."""
    result = DemoResult()
    tenants: dict[str, Tenant] = {}
    new_tenants: list[Tenant] = []
    for slug, name in DEMO_TENANTS.items():
        tenant, created = Tenant.objects.get_or_create(slug=slug, defaults={"name": name})
        tenants[slug] = tenant
        if created:
            new_tenants.append(tenant)
        result.summary.append(f"tenant {slug}: {'created' if created else 'unchanged'}")
    for tenant_slug, slug, name, roles, default, color in DEMO_PORTALS:
        _, created = Portal.objects.get_or_create(
            slug=slug,
            defaults={
                "tenant": tenants[tenant_slug],
                "name": name,
                "admitted_roles": roles,
                "is_default": default,
                "theme": {"primary_color": color, "logo_url": ""},
            },
        )
        result.summary.append(f"portal {slug}: {'created' if created else 'unchanged'}")
    for demo in DEMO_USERS:
        user = User.objects.by_email(demo.email).first()
        created = user is None
        if user is None:
            user = User.objects.create_user(email=demo.email, name=demo.name, email_verified=True)
        if password or created:
            chosen = password or make_password()
            user.set_password(chosen)
            user.save(update_fields=["password"])
            result.passwords[demo.email] = chosen
        tenant = tenants[demo.tenant]
        with tenant_context(tenant):
            Membership.objects.get_or_create(tenant=tenant, user=user, defaults={"role": system_role(demo.role)})
        result.summary.append(f"user {demo.email}: {'created' if created else 'unchanged'}")
    for tenant in new_tenants:
        # What every new tenant gets from the other apps (a subscription, onboarding steps), as create_tenant does.
        with tenant_context(tenant):
            plugs.tenant_created(tenant)
    return result
