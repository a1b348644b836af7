"""`manage.py seed_rbac [--check]`: make the permission catalogue and system roles match the code.

Prints what changed and the created/updated/unchanged counts. `--check`
changes nothing and exits 1 when the database differs from the code (CI and
deploy gates).
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.identity.services.seeding import rbac_seed


class Command(BaseCommand):
    help = "Make the permission catalogue and the system roles match each app's permissions.py."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--check",
            action="store_true",
            help="Change nothing; exit 1 if the database differs from the code.",
        )

    def handle(self, *args: Any, check: bool = False, **options: Any) -> None:
        report = rbac_seed(dry_run=check)
        for line in report.changes:
            self.stdout.write(f"  {line}")
        if check:
            self.stdout.write(f"check (nothing written) — {report.summary()}")
            if report.changed:
                raise CommandError(
                    f"RBAC drift: {len(report.changes)} difference(s) between the code and the database; "
                    "run `manage.py seed_rbac` to apply them.",
                    returncode=1,
                )
            self.stdout.write(self.style.SUCCESS("RBAC matches the code."))
            return
        self.stdout.write(self.style.SUCCESS(report.summary()))
