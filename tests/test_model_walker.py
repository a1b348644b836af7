"""Every Atrium model is tenant-scoped (with forced RLS on PostgreSQL) or global for a stated reason.

A new table a tenant owns that skips `TenantScopedModel` or its RLS migration fails here.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection

from apps.common.models import TenantScopedModel

# model label → why it has no tenant wall (docs/architecture.md, "Global and tenant tables").
GLOBAL_MODELS: dict[str, str] = {
    "identity.User": "a person may belong to several tenants",
    "identity.Tenant": "resolved before any tenant context exists",
    "identity.Portal": "resolved from the URL slug before the tenant is known",
    "identity.Permission": "the platform's permission catalogue, the same for every tenant",
    "identity.InvitationToken": "token lookup happens before the tenant is known",
    "identity.ApiKeyPrefix": "an API key's public prefix -> tenant: looked up before the tenant is known, no secret",
    "identity.PlatformAuditEvent": "the platform audit stream: events with no tenant",
    "identity.AuditHead": "per-stream count and last hash, no tenant content; kept apart from the chain",
    "identity.AuthSession": "a sign-in (refresh family) is found from a refresh token before the tenant is known",
    "identity.RefreshToken": "looked up by its hash before the tenant is known",
    "identity.PendingSignup": "a password waiting for proof of the mailbox, looked up by address at sign-in",
    "identity.BackupCode": "a user's MFA recovery codes belong to the user, like their TOTP device, in every tenant",
    "billing.Plan": "the platform's plan catalogue, the same for every tenant",
    "billing.BillingCustomer": "a provider's customer id -> tenant: webhooks look it up before the tenant is known",
    "billing.StripeEvent": "processed webhook event ids, recorded before the tenant is known",
    "common.OutboxMessage": "relay infrastructure swept across tenants by an operator job; carries the tenant id",
    "operations.OffboardingRecord": "the offboarding log outlives the tenant it names (its rows are erased)",
}
# Mixed tables: system rows without tenant, tenant rows with one; RLS admits shared rows for reading.
MIXED_MODELS: dict[str, str] = {
    "identity.Role": "system roles have no tenant; custom roles belong to one",
}


def atrium_models():
    return [m for m in apps.get_models() if m.__module__.startswith("apps.")]


def test_every_model_is_scoped_or_listed_as_global():
    unlisted = [
        m._meta.label
        for m in atrium_models()
        if not issubclass(m, TenantScopedModel) and m._meta.label not in GLOBAL_MODELS | MIXED_MODELS
    ]
    assert unlisted == [], f"tenant-scope these models or list them in GLOBAL_MODELS with a reason: {unlisted}"


def test_global_list_names_only_real_unscoped_models():
    labels = {m._meta.label: m for m in atrium_models()}
    for label in GLOBAL_MODELS | MIXED_MODELS:
        assert label in labels, f"{label} is listed but does not exist"
        assert not issubclass(labels[label], TenantScopedModel)


def test_tenant_scoped_models_have_a_non_null_tenant_leading_an_index():
    for model in atrium_models():
        if not issubclass(model, TenantScopedModel):
            continue
        assert not model._meta.get_field("tenant").null
        leading = [next(iter(i.fields)) for i in model._meta.indexes] + [
            next(iter(c.fields)) for c in model._meta.constraints if getattr(c, "fields", None)
        ]
        assert "tenant" in leading, f"{model._meta.label}: add an index or unique constraint leading with tenant"


def tenant_tables() -> list[str]:
    return [
        m._meta.db_table for m in atrium_models() if issubclass(m, TenantScopedModel) or m._meta.label in MIXED_MODELS
    ]


def tables_without_forced_rls(tables: list[str], schema: str | None = None) -> list[str]:
    """The tables among `tables` (in `schema`, default the current one) without FORCEd row-level security.

    tests/migrations/test_rls_guard.py proves this check fails on a tenant table that lacks RLS.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = ANY(%s) AND n.nspname = coalesce(%s, current_schema()) "
            "AND c.relrowsecurity AND c.relforcerowsecurity",
            [tables, schema],
        )
        protected = {row[0] for row in cursor.fetchall()}
    return sorted(set(tables) - protected)


@pytest.mark.postgres
@pytest.mark.django_db
def test_every_tenant_table_has_forced_row_level_security():
    assert tables_without_forced_rls(tenant_tables()) == []
