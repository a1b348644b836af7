"""Invoices: what a period costs (the plan's price plus metered usage over what it includes), and paying them.

Amounts are integer cents. One invoice per tenant and period start (a unique
constraint): computing a period twice returns the first invoice. An invoice
of 0 is paid on issue. Paying the last overdue invoice of a past-due
subscription makes it active again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.billing.models import Invoice, Subscription
from apps.billing.selectors import PlanView, usage_totals
from apps.billing.services.subscriptions import subscription_lock, subscription_mirror, subscription_transition
from apps.common.exceptions import Conflict, NotFound
from apps.common.tenancy import TenantLike, tenant_context, unscoped
from apps.identity.models import Tenant
from apps.identity.services.audit import audit_record


def invoice_lines(*, plan: PlanView, usage: dict[str, int]) -> list[dict[str, Any]]:
    """The plan's price, then one line per metered metric with usage over what the plan includes."""
    lines: list[dict[str, Any]] = [
        {"description": f"{plan.name} plan", "metric": None, "quantity": 1, "amount_cents": plan.price_cents}
    ]
    for metric, price in sorted(plan.metered.items()):
        over = max(0, int(usage.get(metric, 0)) - int(price.get("included", 0)))
        per = max(1, int(price.get("per", 1)))
        blocks = -(-over // per)  # each started block counts
        if blocks:
            lines.append(
                {
                    "description": f"{metric} over {price.get('included', 0)} included",
                    "metric": metric,
                    "quantity": over,
                    "amount_cents": blocks * int(price.get("cents", 0)),
                }
            )
    return lines


@transaction.atomic
def invoice_compute(
    *, tenant: TenantLike, plan: PlanView, period_start: datetime, period_end: datetime, now: datetime | None = None
) -> tuple[Invoice, bool]:
    """The period's invoice from the plan and the period's rolled-up usage, issued `now`; (invoice, created)."""
    existing = Invoice.objects.filter(tenant_id=tenant.id, period_start=period_start).first()
    if existing is not None:
        return existing, False
    lines = invoice_lines(plan=plan, usage=usage_totals(tenant=tenant, period_start=period_start))
    total = sum(line["amount_cents"] for line in lines)
    now = now or timezone.now()
    invoice = Invoice.objects.create(
        tenant_id=tenant.id,
        plan_code=plan.code,
        period_start=period_start,
        period_end=period_end,
        currency=plan.currency,
        lines=lines,
        total_cents=total,
        status=Invoice.Status.OPEN if total else Invoice.Status.PAID,
        paid_at=None if total else now,
        created_at=now,
    )
    return invoice, True


def invoice_overdue_exists(*, tenant: TenantLike, now: datetime) -> bool:
    due = now - timedelta(days=settings.BILLING_INVOICE_DUE_DAYS)
    return Invoice.objects.filter(tenant_id=tenant.id, status=Invoice.Status.OPEN, created_at__lte=due).exists()


@transaction.atomic
def invoice_pay(*, tenant: Tenant, invoice_id: UUID | str, provider_invoice_id: str = "") -> Invoice:
    """Mark an open invoice paid (in the tenant's context); a past-due subscription with no overdue left is active."""
    subscription = subscription_lock(tenant=tenant)
    invoice: Invoice | None = Invoice.objects.select_for_update().filter(id=invoice_id).first()
    if invoice is None:
        raise NotFound("No such invoice.")
    if invoice.status == Invoice.Status.VOID:
        raise Conflict("A void invoice cannot be paid.")
    if invoice.status == Invoice.Status.PAID:
        return invoice
    invoice.status = Invoice.Status.PAID
    invoice.paid_at = timezone.now()
    invoice.provider_invoice_id = provider_invoice_id or invoice.provider_invoice_id
    invoice.save(update_fields=["status", "paid_at", "provider_invoice_id", "updated_at"])
    if subscription.status == Subscription.Status.PAST_DUE and not invoice_overdue_exists(
        tenant=tenant, now=timezone.now()
    ):
        subscription_transition(subscription=subscription, to=Subscription.Status.ACTIVE)
        subscription.save(update_fields=["status", "updated_at"])
        subscription_mirror(subscription=subscription)
    audit_record(
        tenant=tenant,
        action="billing.invoice_paid",
        target=("invoice", str(invoice.id)),
        data={"total_cents": invoice.total_cents, "currency": invoice.currency},
    )
    return invoice


def invoice_mark_paid(*, invoice_id: UUID | str) -> Invoice:
    """Operator command: find the invoice's tenant (the named escape), then pay it inside that tenant's context."""
    with unscoped():
        tenant_id = Invoice.all_tenants.filter(id=invoice_id).values_list("tenant_id", flat=True).first()
    if tenant_id is None:
        raise NotFound(f"No invoice {invoice_id}.")
    tenant = Tenant.objects.get(id=tenant_id)
    with tenant_context(tenant):
        return invoice_pay(tenant=tenant, invoice_id=invoice_id)
