"""`manage.py seed_demo`: idempotent demo tenants, portals and users to click around with."""

from __future__ import annotations

import io
import secrets
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from apps.identity.services.demo import DEMO_USERS, demo_seed


class Command(BaseCommand):
    help = "Create (or refresh) the demo tenants acme and globex with one user per role; prints credentials."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--password", default=None, help="set this password for every demo user, also on a rerun")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("seed_rbac", stdout=io.StringIO())
        password: str | None = options["password"]
        result = demo_seed(password=password, make_password=lambda: secrets.token_urlsafe(12))
        base = settings.PUBLIC_BASE_URL.rstrip("/")
        for line in result.summary:
            self.stdout.write(line)
        self.stdout.write("")
        self.stdout.write("demo credentials:")
        for email, portal in DEMO_USERS_PORTALS:
            shown = result.passwords.get(email)
            if shown is None:
                shown = "(unchanged; set earlier — rerun with --password P to set one)"
            self.stdout.write(f"  {email:<22} {shown:<20} {base}/portal/{portal}/")


DEMO_USERS_PORTALS = [(user.email, user.portal) for user in DEMO_USERS]
