"""`manage.py export_tenant SLUG PATH`: every row and stored object of one tenant, in a checksummed archive.

PATH must not exist; ending in `.tar.gz` or `.tgz` makes a tarball, anything
else a directory. Prints `model: N rows` per model and the manifest's SHA-256.
Exit 1 (one line on stderr) for an unknown slug or an existing PATH.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.operations.archive import ArchiveError
from apps.operations.services import progress_line, tenant_by_slug, tenant_export


class Command(BaseCommand):
    help = "Export one tenant's rows (its global rows too) and stored files to a new checksummed archive."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", metavar="SLUG")
        parser.add_argument("path", metavar="PATH", help="a new directory, or a file ending in .tar.gz")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            tenant = tenant_by_slug(options["slug"])
            result = tenant_export(tenant=tenant, path=Path(options["path"]), on_progress=self.progress)
        except ArchiveError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"exported {tenant.slug} to {result.path}"))
        self.stdout.write(f"manifest sha256: {result.manifest_sha256}")

    def progress(self, label: str, rows: int) -> None:
        self.stdout.write(progress_line(label, rows))
