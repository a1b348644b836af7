"""`manage.py import_tenant PATH [--checksum SHA256]`: restore a tenant from its export archive.

Every file is checked against the manifest first; the tenant must not exist
in this database (restore into an empty database, or after offboarding), and
`seed_rbac` must have run (memberships point at system roles by code).
All or nothing: any refusal leaves the database and the storage as they were.
Afterwards `verify_audit_chain --tenant SLUG` passes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.operations.archive import ArchiveError
from apps.operations.services import progress_line, tenant_import


class Command(BaseCommand):
    help = "Restore a tenant (rows, its members' accounts, stored files) from an export_tenant archive."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", metavar="PATH")
        parser.add_argument("--checksum", default=None, help="refuse unless the manifest has this SHA-256")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = tenant_import(
                path=Path(options["path"]),
                expected_sha256=options["checksum"],
                on_progress=lambda label, n: self.stdout.write(progress_line(label, n)),
            )
        except ArchiveError as exc:
            raise CommandError(str(exc)) from exc
        if result.users_kept:
            self.stdout.write(f"{result.users_kept} accounts already here were kept as they are")
        self.stdout.write(f"manifest sha256: {result.manifest_sha256}")
        self.stdout.write(self.style.SUCCESS(f"imported {result.tenant.slug} ({result.tenant.id})"))
