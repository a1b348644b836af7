"""`manage.py billing_mark_paid INVOICE_ID`: the offline provider's payment — mark an open invoice paid.

A past-due subscription with no overdue invoice left becomes active again.
Paying a paid invoice changes nothing; a void or unknown one is an error.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any
from uuid import UUID

from django.core.management.base import BaseCommand, CommandError

from apps.billing.services.invoices import invoice_mark_paid
from apps.common.exceptions import ApplicationError


class Command(BaseCommand):
    help = "Mark an invoice paid (offline payments)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("invoice_id", help="The invoice's id (a UUID, as invoices/ lists it).")

    def handle(self, *args: Any, invoice_id: str, **options: Any) -> None:
        try:
            UUID(invoice_id)
        except ValueError as exc:
            raise CommandError(f"{invoice_id!r} is not an invoice id (a UUID).") from exc
        try:
            invoice = invoice_mark_paid(invoice_id=invoice_id)
        except ApplicationError as exc:
            raise CommandError(exc.detail) from exc
        self.stdout.write(
            self.style.SUCCESS(f"invoice {invoice.id}: {invoice.status} ({invoice.total_cents} {invoice.currency})")
        )
