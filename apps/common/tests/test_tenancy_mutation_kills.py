"""Behaviour of `apps.common.tenancy` that mutation testing (`make mutation`) showed no test pinned down.

Each test names the surviving mutant it kills; docs/testing.md lists them all.
A tenant here is any object with an `id`, as `apps.common` sees it.
"""

from __future__ import annotations

from types import SimpleNamespace
from uuid import uuid4

import pytest

from apps.common import tenancy
from apps.common.tenancy import current_tenant_id, tenant_context


def test_no_tenant_context_means_no_current_tenant_id():
    """Kills `current_tenant_id`: `tenant is not None` → `... or True` (an AttributeError outside any context).

    Jobs deferred outside a tenant (platform mail, operator commands) record "no tenant" this way.
    """
    assert current_tenant_id() is None


@pytest.mark.django_db
def test_current_tenant_id_follows_the_context_in_and_out():
    tenant = SimpleNamespace(id=uuid4())
    with tenant_context(tenant):
        assert current_tenant_id() == tenant.id
        with tenant_context(None):
            assert current_tenant_id() is None
        assert current_tenant_id() == tenant.id
    assert current_tenant_id() is None


def test_a_registered_tenant_loader_is_the_one_jobs_use(monkeypatch):
    """Kills `register_tenant_loader`: `_loader = loader` → `_loader = None`.

    The identity app registers its loader once at start-up, before mutmut switches
    a mutant on, so only a test that registers one itself can notice.
    """
    monkeypatch.setattr(tenancy, "_loader", None)
    loaded = SimpleNamespace(id=uuid4())

    tenancy.register_tenant_loader(lambda tenant_id: loaded if tenant_id == loaded.id else None)

    assert tenancy.load_tenant(loaded.id) is loaded


def test_without_a_registered_loader_loading_a_tenant_fails_loudly(monkeypatch):
    monkeypatch.setattr(tenancy, "_loader", None)
    with pytest.raises(RuntimeError):
        tenancy.load_tenant(uuid4())
