"""Billing (`apps.billing`): the payment provider and invoice terms.

Without `STRIPE_SECRET_KEY` the offline provider runs (trials, plan changes,
invoices marked paid by `manage.py billing_mark_paid`). The Stripe webhook
(`/api/v1/billing/webhooks/stripe/`) verifies `Stripe-Signature` with
`STRIPE_WEBHOOK_SECRET`; without it every delivery is refused (400).
"""

from config import env as E

STRIPE_SECRET_KEY: str = E.STRIPE_SECRET_KEY
STRIPE_WEBHOOK_SECRET: str = E.STRIPE_WEBHOOK_SECRET
# How old a signed webhook may be (seconds): Stripe's own default, 5 minutes.
STRIPE_WEBHOOK_TOLERANCE: int = 300
# An open invoice unpaid this many days after it is issued makes the subscription past_due.
BILLING_INVOICE_DUE_DAYS: int = E.BILLING_INVOICE_DUE_DAYS
# Usage readings (`UsageRecord`) older than this are deleted by the nightly job; period totals stay.
BILLING_USAGE_RETENTION_DAYS: int = E.BILLING_USAGE_RETENTION_DAYS
# How often each worker moves its buffered API-call counts to the cache (apps.common.metering).
ATRIUM_METERING_FLUSH_SECONDS: float = E.ATRIUM_METERING_FLUSH_SECONDS
