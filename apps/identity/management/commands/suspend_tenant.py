"""`manage.py suspend_tenant SLUG [--reason TEXT] [--lift]`: stop all use of a tenant, or let it back in.

Suspending ends every session of the tenant at once (refresh now, access at the next request);
while suspended, sign-in, sign-up and invitation acceptance are refused. `--lift` reactivates it:
sign-ins work again at once, and the sessions the suspension ended stay ended. Both are audited
in the tenant's stream (`tenant.suspended`, `tenant.reactivated`); running either twice changes
nothing more. An unknown or offboarded slug exits 1 and changes nothing.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.common.exceptions import NotFound
from apps.identity.models import Tenant
from apps.identity.services.tenants import tenant_reactivate, tenant_suspend


class Command(BaseCommand):
    help = "Suspend a tenant (every session ends; sign-in refused) or, with --lift, reactivate it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="The tenant's slug.")
        parser.add_argument("--reason", default="", help="Recorded with the suspension (at most 200 characters).")
        parser.add_argument("--lift", action="store_true", help="Reactivate a suspended tenant instead.")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["slug"]).first()
        if tenant is None:
            raise CommandError(f"unknown tenant slug: {options['slug']!r}")
        try:
            if options["lift"]:
                lifted = tenant_reactivate(tenant=tenant)
                self.stdout.write(
                    f"Reactivated {tenant.slug}: sign-in works again."
                    if lifted
                    else f"{tenant.slug} was not suspended: nothing changed."
                )
                return
            ended = tenant_suspend(tenant=tenant, reason=options["reason"])
        except NotFound as exc:
            raise CommandError(f"tenant {tenant.slug!r} is offboarded: {exc.detail}") from exc
        noun = "session" if ended == 1 else "sessions"
        self.stdout.write(f"Suspended {tenant.slug}: ended {ended} {noun}. Lift it with --lift.")
