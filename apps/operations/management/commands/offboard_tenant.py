"""`manage.py offboard_tenant SLUG --export PATH [--operator NAME]`: export the tenant, then erase it.

The export comes first (PATH must not exist); the erasure of every row the
tenant owns, its tenant row included, is one transaction; its stored objects
are deleted after the commit. A global `OffboardingRecord` keeps the tenant's
id and slug, the time, the operator and the manifest's SHA-256. Exit 1 with
one line on stderr for an unknown slug, an existing PATH, or rows that
changed during the export (then nothing is erased).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.operations.archive import ArchiveError
from apps.operations.services import operator_name, progress_line, tenant_by_slug, tenant_offboard


class Command(BaseCommand):
    help = "Export a tenant's data to a new archive, then erase every row and stored object it owns."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", metavar="SLUG")
        parser.add_argument("--export", required=True, metavar="PATH", help="a new directory or .tar.gz file")
        parser.add_argument("--operator", default=None, help="who is running it (default: the OS user)")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["export"])
        try:
            tenant = tenant_by_slug(options["slug"])
            result = tenant_offboard(
                tenant=tenant,
                path=path,
                operator=options["operator"] or operator_name(),
                on_progress=lambda label, n: self.stdout.write(progress_line(label, n)),
                on_erased=lambda label, n: self.stdout.write(f"erased {label}: {n} rows") if n else None,
            )
        except ArchiveError as exc:
            raise CommandError(str(exc)) from exc
        record = result.record
        self.stdout.write(f"manifest sha256: {record.manifest_sha256}")
        self.stdout.write(
            self.style.SUCCESS(
                f"offboarded {record.slug} ({record.former_tenant_id}): {record.rows_erased} rows erased, "
                f"{record.objects_erased} stored objects deleted; archive at {path}"
            )
        )
