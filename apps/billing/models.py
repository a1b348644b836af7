"""Billing: the plan catalogue, one subscription per tenant, usage, invoices and processed provider events.

Global tables (no tenant wall): `Plan` (the platform's catalogue),
`BillingCustomer` (a provider's customer id → tenant, looked up by webhooks
before the tenant is known) and `StripeEvent` (processed webhook event ids).
Everything else a tenant owns inherits `TenantScopedModel` (RLS in the
migrations).
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models

from apps.common.models import BaseModel, TenantScopedModel


class Plan(BaseModel):
    """A plan of the catalogue: price in integer cents, entitlements (feature codes and limits)."""

    class Interval(models.TextChoices):
        MONTH = "month"
        YEAR = "year"

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=100)
    price_cents = models.PositiveIntegerField(default=0)
    currency = models.CharField(max_length=3, default="usd")
    interval = models.CharField(max_length=8, choices=Interval.choices, default=Interval.MONTH)
    trial_days = models.PositiveSmallIntegerField(default=0)
    features = models.JSONField(default=list, blank=True)
    # {"seats": int|None, "portals": int|None, "storage_bytes": int|None}; None is unlimited.
    limits = models.JSONField(default=dict, blank=True)
    # {metric: {"included": int, "per": int, "cents": int}}: usage priced above what is included.
    metered = models.JSONField(default=dict, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        default_permissions = ()
        ordering: ClassVar = ["position", "code"]

    def __str__(self) -> str:
        return self.code


class Subscription(TenantScopedModel):
    """The one subscription of a tenant. Its plan and status are mirrored on the tenant row."""

    class Status(models.TextChoices):
        TRIALING = "trialing"
        ACTIVE = "active"
        PAST_DUE = "past_due"
        CANCELED = "canceled"

    class Provider(models.TextChoices):
        OFFLINE = "offline"
        STRIPE = "stripe"

    plan_code = models.SlugField(max_length=32)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    trial_ends_at = models.DateTimeField(null=True, blank=True)
    current_period_start = models.DateTimeField()
    current_period_end = models.DateTimeField()
    canceled_at = models.DateTimeField(null=True, blank=True)
    provider = models.CharField(max_length=16, choices=Provider.choices, default=Provider.OFFLINE)
    provider_customer_id = models.CharField(max_length=255, blank=True, default="")
    provider_subscription_id = models.CharField(max_length=255, blank=True, default="")
    # `created` of the last provider event applied: an older event arriving late changes nothing.
    provider_synced_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantScopedModel.Meta):
        constraints: ClassVar = [models.UniqueConstraint(fields=["tenant"], name="billing_subscription_one_per_tenant")]
        # The trial-expiry job looks for trials past their end.
        indexes: ClassVar = [models.Index(fields=["tenant", "status"], name="billing_subscription_status")]

    def __str__(self) -> str:
        return f"{self.plan_code} [{self.status}]"


class UsageRecord(TenantScopedModel):
    """One measurement: a metered event (`api_calls`) or a gauge reading (`seats`, `portals`, `storage_bytes`)."""

    metric = models.SlugField(max_length=32)
    quantity = models.BigIntegerField()
    at = models.DateTimeField()

    class Meta(TenantScopedModel.Meta):
        indexes: ClassVar = [models.Index(fields=["tenant", "metric", "at"], name="billing_usage_metric_at")]

    def __str__(self) -> str:
        return f"{self.metric}={self.quantity} at {self.at:%Y-%m-%d %H:%M}"


class UsageTotal(TenantScopedModel):
    """A metric's total for one billing period, kept by the roll-up job (sum of events, peak of gauges)."""

    metric = models.SlugField(max_length=32)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    total = models.BigIntegerField(default=0)

    class Meta(TenantScopedModel.Meta):
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "period_start", "metric"], name="billing_usage_total_unique")
        ]

    def __str__(self) -> str:
        return f"{self.metric}={self.total} from {self.period_start:%Y-%m-%d}"


class Invoice(TenantScopedModel):
    """What a period costs: the plan's price plus metered usage over what it includes, in integer cents."""

    class Status(models.TextChoices):
        OPEN = "open"
        PAID = "paid"
        VOID = "void"

    plan_code = models.SlugField(max_length=32)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    currency = models.CharField(max_length=3, default="usd")
    # [{"description": str, "metric": str|None, "quantity": int, "amount_cents": int}]
    lines = models.JSONField(default=list)
    total_cents = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    paid_at = models.DateTimeField(null=True, blank=True)
    provider_invoice_id = models.CharField(max_length=255, blank=True, default="")

    class Meta(TenantScopedModel.Meta):
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "period_start"], name="billing_invoice_one_per_period")
        ]
        indexes: ClassVar = [models.Index(fields=["tenant", "created_at", "id"], name="billing_invoice_newest")]

    def __str__(self) -> str:
        return f"invoice {self.period_start:%Y-%m-%d} {self.total_cents} {self.currency} [{self.status}]"


class BillingCustomer(BaseModel):
    """A payment provider's customer id → the tenant it pays for. Global: webhooks find the tenant by it."""

    provider = models.CharField(max_length=16)
    customer_id = models.CharField(max_length=255)
    tenant = models.ForeignKey(settings.TENANT_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        default_permissions = ()
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["provider", "customer_id"], name="billing_customer_unique")
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.customer_id}"


class StripeEvent(BaseModel):
    """A Stripe webhook event received: its id is unique, so each event is applied once."""

    class Outcome(models.TextChoices):
        PENDING = "pending"
        APPLIED = "applied"
        IGNORED = "ignored"
        STALE = "stale"

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    # The event's own `created` (when Stripe made it), for ordering late deliveries.
    event_created = models.DateTimeField()
    tenant_id = models.UUIDField(null=True, blank=True)
    payload = models.JSONField(default=dict)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.PENDING)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_permissions = ()
        # Export and offboarding read and erase a tenant's rows.
        indexes: ClassVar = [models.Index(fields=["tenant_id"], name="billing_stripeevent_tenant")]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type} [{self.outcome}]"
