"""`manage.py tenant_tfvars SLUG [--image IMAGE]`: the tenant's Terraform variables as JSON.

Reads the tenant row (a global table: no tenant context or RLS bypass is
needed) and prints exactly the variables of infra/terraform/envs/tenant:
slug, tenant id, tier, region, domain, plan, the image silo tasks run and the
plan's sizes (apps/identity/infra_sizing.py). scripts/tenant-infra.sh writes
it to var/infra/<slug>.tfvars.json. An unknown slug, or a plan without sizes,
exits 1 with a message and prints nothing on stdout.
"""

from __future__ import annotations

import json
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.identity.infra_sizing import sizes_for_plan, tenant_domain
from apps.identity.models import Tenant

DEFAULT_IMAGE = "atrium:latest"


class Command(BaseCommand):
    help = "Print the tenant's Terraform variables (infra/terraform/envs/tenant) as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="The tenant's slug.")
        parser.add_argument(
            "--image",
            default=None,
            help=f"Container image of silo tasks (default: $ATRIUM_IMAGE, else {DEFAULT_IMAGE}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        slug = options["slug"]
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise CommandError(f"unknown tenant slug: {slug!r}")
        sizes = sizes_for_plan(tenant.plan_code)
        if sizes is None:
            raise CommandError(
                f"tenant {tenant.slug!r} is on plan {tenant.plan_code!r}, which has no infrastructure sizes: "
                "add it to SIZES_BY_PLAN in apps/identity/infra_sizing.py"
            )
        image = options["image"] or os.environ.get("ATRIUM_IMAGE", "") or DEFAULT_IMAGE
        tfvars = {
            "slug": tenant.slug,
            "tenant_id": str(tenant.id),
            "tier": tenant.tier,
            "region": tenant.region,
            "domain": tenant_domain(tenant.slug),
            "plan": tenant.plan_code,
            "image": image,
            "sizes": sizes,
        }
        self.stdout.write(json.dumps(tfvars, indent=2, sort_keys=True))
