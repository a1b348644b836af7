"""`manage.py rqcron`: django-rq's cron scheduler, with the project's cron config by default.

django-rq's own command requires the config path; Atrium's cron config is a
setting (`RQ_CRON_CONFIG`), so operators and the process manager run the bare
command. `apps.common` precedes `django_rq` in INSTALLED_APPS, so this one wins.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser
from django_rq.management.commands.rqcron import Command as DjangoRQCronCommand


class Command(DjangoRQCronCommand):
    help = "Starts the RQ cron scheduler with settings.RQ_CRON_CONFIG (or the config module or file given)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "config_path",
            nargs="?",
            default=None,
            help="Cron config module or file (default: settings.RQ_CRON_CONFIG)",
        )
        parser.add_argument(
            "--logging-level",
            "-l",
            choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
            default="INFO",
            help="Logging level (default: INFO)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        options["config_path"] = options["config_path"] or settings.RQ_CRON_CONFIG
        super().handle(*args, **options)
