"""Billing's writes, one module per topic.

- `plans`: seeding the catalogue (`plan_seed`).
- `subscriptions`: creating, changing and moving subscriptions (status rules, the tenant mirror).
- `lifecycle`: the nightly moves (expired trials, closed periods, overdue invoices).
- `usage`: recording usage and rolling it up per period.
- `invoices`: computing a period's invoice, marking it paid.
- `stripe_events`: receiving Stripe webhooks once and applying their effects.
"""
