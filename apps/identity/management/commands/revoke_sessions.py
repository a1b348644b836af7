"""`manage.py revoke_sessions --user EMAIL | --portal SLUG | --tenant SLUG`: end sessions at once.

Every matching session's refresh tokens stop now and its access tokens at
their next request. Prints how many sessions ended; an unknown user, portal or
tenant exits 1 with a message and changes nothing.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.identity.models import Portal, Tenant, User
from apps.identity.services.sessions import sessions_revoke_portal, sessions_revoke_tenant, sessions_revoke_user


class Command(BaseCommand):
    help = "End every session of a user, a portal or a tenant; print how many ended."

    def add_arguments(self, parser: CommandParser) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--user", metavar="EMAIL", help="Every session of this user, in every tenant.")
        target.add_argument("--portal", metavar="SLUG", help="Every session signed in to this portal.")
        target.add_argument("--tenant", metavar="SLUG", help="Every session in this tenant.")
        parser.add_argument("--reason", default="operator", help="Recorded with the revocation (default: operator).")

    def handle(self, *args: Any, **options: Any) -> None:
        reason = f"operator:{options['reason']}"[:50] if options["reason"] != "operator" else "operator"
        if options["user"]:
            user = User.objects.by_email(options["user"]).first()
            if user is None:
                raise CommandError(f"unknown user: {options['user']!r}")
            ended = sessions_revoke_user(user=user, reason=reason)
            what = f"user {user.email}"
        elif options["portal"]:
            portal = Portal.objects.select_related("tenant").filter(slug=options["portal"]).first()
            if portal is None:
                raise CommandError(f"unknown portal slug: {options['portal']!r}")
            ended = sessions_revoke_portal(portal=portal, reason=reason)
            what = f"portal {portal.slug}"
        else:
            tenant = Tenant.objects.filter(slug=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"unknown tenant slug: {options['tenant']!r}")
            ended = sessions_revoke_tenant(tenant=tenant, reason=reason)
            what = f"tenant {tenant.slug}"
        noun = "session" if ended == 1 else "sessions"
        self.stdout.write(f"Ended {ended} {noun} of {what}.")
