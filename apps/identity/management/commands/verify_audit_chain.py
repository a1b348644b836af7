"""`manage.py verify_audit_chain [--tenant SLUG]`: prove the audit trail was not altered.

Walks every audit stream (each tenant's and the platform's), or one tenant's,
recomputing hashes and checking seq continuity, the prev_hash links and the
stream's head (count and last hash). Exit 0 with "ok: N events in M streams";
exit 1 naming the first broken link of each broken stream.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.identity.models import Tenant
from apps.identity.services.audit import StreamReport, audit_chain_verify

# Above this many streams, a line per stream shows the walk is progressing.
PROGRESS_THRESHOLD = 10


class Command(BaseCommand):
    help = "Verify the hash chain and heads of the audit streams; exit 1 naming the first broken link."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", metavar="SLUG", help="Verify only this tenant's stream.")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = None
        if options["tenant"]:
            tenant = Tenant.objects.filter(slug=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"unknown tenant slug: {options['tenant']!r}")

        verbosity = int(options.get("verbosity", 1))

        def progress(index: int, total: int, stream: StreamReport) -> None:
            # A line per stream when there are many (or when asked with -v 2).
            if verbosity >= 2 or (verbosity >= 1 and total > PROGRESS_THRESHOLD):
                status = "ok" if stream.ok else "BROKEN"
                self.stdout.write(
                    f"[{index}/{total}] {stream.stream} ({stream.label}): {stream.events} events {status}"
                )

        report = audit_chain_verify(tenant=tenant, on_stream=progress)
        if not report.ok:
            if len(report.breaks) > 1:
                for broken in report.breaks:
                    self.stderr.write(f"broken: {broken}")
            # CommandError: exit status 1 and one line on stderr, no traceback.
            raise CommandError(f"audit chain broken: {report.breaks[0]}")
        self.stdout.write(f"ok: {report.events} events in {len(report.streams)} streams")
