"""Tenant-namespaced cache keys: the cache layer is walled like the database."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from django.core.cache import cache

from apps.common.tenancy import TenantContextMissing, tenant_cache_key, tenant_context


@dataclass(frozen=True)
class _Tenant:
    id: uuid.UUID


A, B = _Tenant(uuid.uuid4()), _Tenant(uuid.uuid4())


@pytest.mark.django_db
def test_the_same_key_of_two_tenants_never_collides():
    with tenant_context(A):
        cache.set(tenant_cache_key("dashboard", 1), "a's numbers")
    with tenant_context(B):
        assert cache.get(tenant_cache_key("dashboard", 1)) is None
        cache.set(tenant_cache_key("dashboard", 1), "b's numbers")
    with tenant_context(A):
        assert cache.get(tenant_cache_key("dashboard", 1)) == "a's numbers"
        assert tenant_cache_key("dashboard", 1) == f"t:{A.id}:dashboard:1"


def test_no_tenant_no_key():
    with pytest.raises(TenantContextMissing):
        tenant_cache_key("dashboard")
