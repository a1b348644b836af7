"""Stripe webhooks: verify, record the event id once, and apply its effects through the outbox.

`stripe_webhook_receive` (the webhook view's service) verifies
`Stripe-Signature` with the `stripe` package's own check (tolerance 5
minutes), then inserts the event id into `StripeEvent` (unique). A second
delivery of the same id — also one racing the first: on PostgreSQL its insert
waits on the unique index until the first commits, then fails — is answered
200 and changes nothing. The effects are an outbox job
(`stripe_event_apply_job`, below), written in the same transaction, that runs
in the event's tenant context and applies the event once (the event row is
locked and marked processed).

Order: Stripe does not deliver in order. Each subscription remembers the
`created` time of the last event that set its state (`provider_synced_at`);
an older event arriving later is recorded as `stale` and changes nothing.
Stripe is the authority on a Stripe subscription's status: its status is
taken as Stripe states it. Unknown event types are recorded and ignored.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.billing.catalogue import DEFAULT_BY_CODE
from apps.billing.exceptions import InvalidSignature
from apps.billing.models import BillingCustomer, Invoice, StripeEvent, Subscription
from apps.billing.selectors import plan_catalogue
from apps.billing.services.subscriptions import subscription_changed_publish, subscription_lock, subscription_mirror
from apps.common.exceptions import ApplicationError
from apps.common.jobs import tenant_job
from apps.identity.models import Tenant
from apps.identity.services.audit import audit_record

logger = logging.getLogger("atrium.billing.stripe")

S = Subscription.Status
Outcome = StripeEvent.Outcome
STRIPE = "stripe"
# Stripe's subscription statuses → ours.
STATUS_MAP: dict[str, str] = {
    "trialing": S.TRIALING,
    "active": S.ACTIVE,
    "past_due": S.PAST_DUE,
    "unpaid": S.PAST_DUE,
    "incomplete": S.PAST_DUE,
    "paused": S.PAST_DUE,
    "canceled": S.CANCELED,
    "incomplete_expired": S.CANCELED,
}


def _verify(payload: bytes, signature: str | None) -> dict[str, Any]:
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise InvalidSignature("Stripe webhooks are not configured here (no STRIPE_WEBHOOK_SECRET).")
    try:
        stripe.Webhook.construct_event(payload, signature or "", secret, tolerance=settings.STRIPE_WEBHOOK_TOLERANCE)
    except stripe.SignatureVerificationError as exc:
        raise InvalidSignature("The Stripe-Signature header does not verify, or is too old.") from exc
    except ValueError as exc:  # the signature held, yet the body is not JSON: not Stripe's
        raise ApplicationError("The body is not a JSON event.") from exc
    data = json.loads(payload)
    if not (
        isinstance(data, dict)
        and isinstance(data.get("id"), str)
        and isinstance(data.get("type"), str)
        and isinstance(data.get("created"), int)
        and isinstance((data.get("data") or {}).get("object"), dict)
    ):
        raise ApplicationError("The event lacks an id, type, created time or data object.")
    return data


def _tenant_for(obj: dict[str, Any], *, event_type: str) -> Tenant | None:
    """The tenant an event's object belongs to: the stored customer map, never the event's metadata.

    The one exception is the event that makes the map: a completed checkout carries the
    `client_reference_id` our server put on the checkout session it created. Metadata on other
    objects (which anyone with dashboard access can edit) never picks a tenant.
    """
    customer = obj.get("customer")
    if isinstance(customer, str) and customer:
        mapped = BillingCustomer.objects.filter(provider=STRIPE, customer_id=customer).select_related("tenant").first()
        if mapped is not None:
            return mapped.tenant
    if event_type != "checkout.session.completed":
        return None
    try:
        tenant_id = UUID(str(obj.get("client_reference_id")))
    except ValueError:
        return None
    return Tenant.objects.filter(id=tenant_id).first()


def stripe_webhook_receive(*, payload: bytes, signature: str | None) -> tuple[StripeEvent, bool]:
    """Verify and record a delivery; (event, True) for a new event, (the recorded one, False) for a duplicate."""
    data = _verify(payload, signature)
    obj = data["data"]["object"]
    known = data["type"] in HANDLERS
    tenant = _tenant_for(obj, event_type=data["type"]) if known else None
    try:
        with transaction.atomic():
            event = StripeEvent.objects.create(
                event_id=data["id"],
                type=data["type"][:100],
                event_created=datetime.fromtimestamp(data["created"], tz=UTC),
                tenant_id=tenant.id if tenant is not None else None,
                payload=data,
            )
    except IntegrityError:
        logger.info("billing.stripe_duplicate", extra={"event_id": data["id"], "type": data["type"]})
        return StripeEvent.objects.get(event_id=data["id"]), False
    if tenant is None:
        event.outcome, event.processed_at = Outcome.IGNORED, timezone.now()
        event.save(update_fields=["outcome", "processed_at", "updated_at"])
        logger.info("billing.stripe_ignored", extra={"event_id": event.event_id, "type": event.type, "known": known})
        return event, True
    stripe_event_apply_job.defer(event_id=event.event_id, tenant=tenant)
    return event, True


@transaction.atomic
def stripe_event_apply(*, tenant: Tenant, event_id: str) -> str:
    """Apply a recorded event in its tenant's context, once: a second run finds it processed."""
    event = StripeEvent.objects.select_for_update().filter(event_id=event_id).first()
    if event is None:
        return Outcome.IGNORED
    if event.processed_at is not None:
        return str(event.outcome)
    handler = HANDLERS.get(event.type)
    outcome = handler(tenant, event) if handler is not None else Outcome.IGNORED
    event.outcome, event.processed_at = outcome, timezone.now()
    event.save(update_fields=["outcome", "processed_at", "updated_at"])
    if outcome == Outcome.APPLIED:
        audit_record(
            tenant=tenant,
            action="billing.stripe_event_applied",
            target=("stripe_event", event.event_id),
            data={"type": event.type},
        )
    return str(outcome)


@tenant_job(queue="billing")
def stripe_event_apply_job(*, tenant: Tenant, event_id: str) -> None:
    """The effects of a recorded Stripe event, applied once in its tenant's context (the RQ entry point)."""
    stripe_event_apply(tenant=tenant, event_id=event_id)


# --------------------------------------------------------------------------- handlers


def _obj(event: StripeEvent) -> dict[str, Any]:
    return dict(event.payload["data"]["object"])


def _when(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if isinstance(value, int) else None


def _fresh(subscription: Subscription, event: StripeEvent) -> bool:
    """Not older than the last event that set this subscription's state."""
    return subscription.provider_synced_at is None or event.event_created >= subscription.provider_synced_at


def _link(tenant: Tenant, subscription: Subscription, obj: dict[str, Any], *, subscription_id: Any) -> None:
    customer = obj.get("customer")
    if isinstance(customer, str) and customer:
        BillingCustomer.objects.get_or_create(provider=STRIPE, customer_id=customer, defaults={"tenant": tenant})
        subscription.provider_customer_id = customer
    if isinstance(subscription_id, str) and subscription_id:
        subscription.provider_subscription_id = subscription_id
    subscription.provider = Subscription.Provider.STRIPE


def _checkout_completed(tenant: Tenant, event: StripeEvent) -> str:
    obj = _obj(event)
    subscription = subscription_lock(tenant=tenant)
    _link(tenant, subscription, obj, subscription_id=obj.get("subscription"))
    subscription.save()
    return Outcome.APPLIED


def _plan_code(obj: dict[str, Any]) -> str | None:
    codes = set(plan_catalogue()) | set(DEFAULT_BY_CODE)
    candidates = [(obj.get("metadata") or {}).get("plan_code")]
    for item in (obj.get("items") or {}).get("data") or []:
        candidates.append(((item or {}).get("price") or {}).get("lookup_key"))
    return next((code for code in candidates if isinstance(code, str) and code in codes), None)


def _subscription_event(tenant: Tenant, event: StripeEvent) -> str:
    obj = _obj(event)
    subscription = subscription_lock(tenant=tenant)
    if not _fresh(subscription, event):
        return Outcome.STALE
    before = (subscription.plan_code, subscription.status)
    _link(tenant, subscription, obj, subscription_id=obj.get("id"))
    status = S.CANCELED if event.type == "customer.subscription.deleted" else STATUS_MAP.get(str(obj.get("status")))
    if status is not None:
        if status == S.CANCELED and subscription.status != S.CANCELED:
            subscription.canceled_at = timezone.now()
        subscription.status = status
    subscription.plan_code = _plan_code(obj) or subscription.plan_code
    subscription.trial_ends_at = _when(obj.get("trial_end")) if status == S.TRIALING else subscription.trial_ends_at
    item = ((obj.get("items") or {}).get("data") or [{}])[0] or {}
    start = _when(obj.get("current_period_start")) or _when(item.get("current_period_start"))
    end = _when(obj.get("current_period_end")) or _when(item.get("current_period_end"))
    if start and end:
        subscription.current_period_start, subscription.current_period_end = start, end
    subscription.provider_synced_at = event.event_created
    subscription.save()
    subscription_mirror(subscription=subscription)
    if (subscription.plan_code, subscription.status) != before:
        subscription_changed_publish(tenant=tenant, subscription=subscription, source="stripe")
    return Outcome.APPLIED


def _invoice_event(tenant: Tenant, event: StripeEvent) -> str:
    obj = _obj(event)
    subscription = subscription_lock(tenant=tenant)
    paid = event.type in ("invoice.paid", "invoice.payment_succeeded")
    if paid:
        _invoice_record(obj, subscription)
    if not _fresh(subscription, event):
        return Outcome.STALE
    target = S.ACTIVE if paid else S.PAST_DUE
    if subscription.status in (S.CANCELED, target) or (paid and subscription.status == S.TRIALING):
        return Outcome.APPLIED
    subscription.status = target
    subscription.provider_synced_at = event.event_created
    subscription.save()
    subscription_mirror(subscription=subscription)
    subscription_changed_publish(tenant=tenant, subscription=subscription, source="stripe")
    return Outcome.APPLIED


def _invoice_record(obj: dict[str, Any], subscription: Subscription) -> None:
    """A paid Stripe invoice as a local invoice row, so `invoices/` lists what Stripe charged."""
    invoice_id, start, end = obj.get("id"), _when(obj.get("period_start")), _when(obj.get("period_end"))
    if not (isinstance(invoice_id, str) and start and end):
        return
    amount = obj.get("amount_paid")
    Invoice.objects.update_or_create(
        tenant_id=subscription.tenant_id,
        period_start=start,
        defaults={
            "plan_code": subscription.plan_code,
            "period_end": end,
            "currency": str(obj.get("currency") or "usd")[:3],
            "lines": [{"description": "Stripe invoice", "metric": None, "quantity": 1, "amount_cents": amount or 0}],
            "total_cents": amount if isinstance(amount, int) and amount >= 0 else 0,
            "status": Invoice.Status.PAID,
            "paid_at": timezone.now(),
            "provider_invoice_id": invoice_id,
        },
    )


HANDLERS: dict[str, Callable[[Tenant, StripeEvent], str]] = {
    "checkout.session.completed": _checkout_completed,
    "customer.subscription.created": _subscription_event,
    "customer.subscription.updated": _subscription_event,
    "customer.subscription.deleted": _subscription_event,
    "invoice.paid": _invoice_event,
    "invoice.payment_succeeded": _invoice_event,
    "invoice.payment_failed": _invoice_event,
}
