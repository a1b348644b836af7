"""Billing's API shapes (docs/api.md, "Billing"): output serializers, and the plan change's input."""

from __future__ import annotations

from rest_framework import serializers

from apps.billing.models import Invoice, Subscription
from apps.common.api import StrictCharField


class LimitsOutputSerializer(serializers.Serializer):
    seats = serializers.IntegerField(allow_null=True, help_text="Seats (members + live invitations); null: unlimited.")
    portals = serializers.IntegerField(allow_null=True, help_text="Active portals; null: unlimited.")
    storage_bytes = serializers.IntegerField(allow_null=True, help_text="Bytes of files stored; null: unlimited.")


class PlanOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    price_cents = serializers.IntegerField(help_text="Price per interval in the currency's minor unit.")
    currency = serializers.CharField(help_text="ISO 4217, lower case.")
    interval = serializers.ChoiceField(choices=["month", "year"])
    trial_days = serializers.IntegerField()
    features = serializers.ListField(child=serializers.CharField())
    limits = LimitsOutputSerializer()


class EntitlementsOutputSerializer(serializers.Serializer):
    features = serializers.ListField(child=serializers.CharField())
    limits = LimitsOutputSerializer()


class SubscriptionOutputSerializer(serializers.Serializer):
    plan = serializers.CharField(help_text="The plan code.")
    status = serializers.ChoiceField(choices=Subscription.Status.values)
    trial_ends_at = serializers.DateTimeField(allow_null=True)
    current_period_start = serializers.DateTimeField()
    current_period_end = serializers.DateTimeField()
    provider = serializers.ChoiceField(choices=Subscription.Provider.values)
    entitlements = EntitlementsOutputSerializer(
        help_text="What the tenant may use now: the plan's, or the free plan's once canceled."
    )


class SubscriptionChangeInputSerializer(serializers.Serializer):
    plan = StrictCharField(max_length=32, help_text="The code of a plan of `plans/`.")


class CheckoutInputSerializer(serializers.Serializer):
    plan = StrictCharField(max_length=32, help_text="The code of a paid plan of `plans/`.")
    success_url = StrictCharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        help_text="Where Stripe sends the browser after paying: a path or URL of this site. Default: the portal's "
        "billing page.",
    )
    cancel_url = StrictCharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        help_text="Where Stripe sends the browser when the checkout is abandoned; as `success_url`.",
    )


class PortalLinkInputSerializer(serializers.Serializer):
    return_url = StrictCharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        help_text="Where Stripe's customer portal links back to: a path or URL of this site. Default: the portal's "
        "billing page.",
    )


class LinkOutputSerializer(serializers.Serializer):
    url = serializers.URLField(help_text="Stripe's hosted page for this session: send the browser there.")


class UsageOutputSerializer(serializers.Serializer):
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    metrics = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="`seats`, `portals`, `storage_bytes` (peak readings) and `api_calls` (sum) for the period.",
    )


class InvoiceLineOutputSerializer(serializers.Serializer):
    description = serializers.CharField()
    metric = serializers.CharField(allow_null=True)
    quantity = serializers.IntegerField()
    amount_cents = serializers.IntegerField()


class InvoiceOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    plan = serializers.CharField(source="plan_code")
    status = serializers.ChoiceField(choices=Invoice.Status.values)
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    currency = serializers.CharField()
    total_cents = serializers.IntegerField()
    lines = InvoiceLineOutputSerializer(many=True)
    created_at = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(allow_null=True)


class WebhookOutputSerializer(serializers.Serializer):
    received = serializers.BooleanField()
    duplicate = serializers.BooleanField(help_text="This event id was received before; nothing was applied again.")
