"""`manage.py create_tenant`: a tenant, its default portal, the owner and subscription."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.common.exceptions import ApplicationError
from apps.identity.models import Tenant
from apps.identity.services.tenants import tenant_create


class Command(BaseCommand):
    help = "Create a tenant with its default portal and owner. Without --owner-password the owner is mailed a link."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--slug", required=True, help="URL slug of the tenant and its default portal")
        parser.add_argument("--name", required=True)
        parser.add_argument("--owner-email", required=True)
        parser.add_argument("--owner-password", default=None)
        parser.add_argument("--plan", default="free")
        parser.add_argument("--tier", default=Tenant.Tier.POOLED, choices=Tenant.Tier.values)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = tenant_create(
                slug=options["slug"],
                name=options["name"],
                owner_email=options["owner_email"],
                owner_password=options["owner_password"],
                plan=options["plan"],
                tier=options["tier"],
                notify_owner=True,
            )
        except ApplicationError as exc:
            raise CommandError(exc.detail) from exc
        base = settings.PUBLIC_BASE_URL.rstrip("/")
        self.stdout.write(self.style.SUCCESS(f"created tenant {result.tenant.slug} ({result.tenant.id})"))
        self.stdout.write(f"portal: {base}/portal/{result.portal.slug}/")
        owner_state = "new user" if result.owner_created else "existing user"
        self.stdout.write(f"owner: {result.owner.email} ({owner_state})")
        if result.set_password_mailed:
            self.stdout.write(f"a link to set a password was mailed to {result.owner.email}")
