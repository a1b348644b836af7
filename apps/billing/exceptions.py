"""Billing's problem types (the `ApplicationError` family)."""

from __future__ import annotations

from apps.common.exceptions import ApplicationError


class InvalidSignature(ApplicationError):
    """A webhook whose `Stripe-Signature` does not verify, or is older than the tolerance."""

    status = 400
    code = "invalid_signature"
    title = "Invalid webhook signature"
