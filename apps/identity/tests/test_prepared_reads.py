"""`PreparedValues`: a read compiled once gives what its queryset gives, per call, per tenant, or refuses."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest
from django.db.models import Count, Q, QuerySet

from apps.common.prepared import PreparationError, PreparedValues
from apps.common.tenancy import TenantContextMissing, tenant_context, unscoped
from apps.identity.models import AuditEvent, User
from apps.identity.tests.factories import UserFactory
from apps.identity.tests.test_hot_path import add_events

pytestmark = pytest.mark.django_db


def counted(build: Any) -> tuple[PreparedValues, list[int]]:
    calls: list[int] = []

    def counting(**values: Any) -> QuerySet[Any]:
        calls.append(1)
        return build(**values)

    return PreparedValues(counting), calls


def test_each_call_reads_its_own_values_and_the_queryset_is_built_once():
    users = [UserFactory(name=f"Person {i}") for i in range(3)]
    read, calls = counted(lambda user_id: User.objects.filter(id=user_id).values("id", "email", "is_active")[:1])
    for user in users * 2:
        assert read.row(user_id=user.id) == {"id": user.id, "email": user.email, "is_active": True}
    assert read.row(user_id=uuid4()) is None
    assert len(calls) == 1


def test_rows_match_the_querysets_own_values_with_annotations_and_converters():
    user = UserFactory(email="ann@example.test")

    def build(email: str) -> QuerySet[Any]:
        return (
            User.objects.filter(email=email)
            .annotate(n=Count("id"), verified=Q(email_verified=True))
            .values("id", "email", "n", "verified", "created_at")
        )

    read = PreparedValues(build)
    assert read.rows(email=user.email) == list(build(user.email))
    assert isinstance(read.rows(email=user.email)[0]["id"], UUID)


def test_a_tenant_scoped_read_takes_the_tenant_from_each_calls_context(tenant, other_tenant):
    add_events(tenant, 2)
    add_events(other_tenant, 5)
    read, calls = counted(lambda action: AuditEvent.objects.filter(action=action).values("tenant_id"))
    with tenant_context(tenant):
        mine = read.rows(action="bench.event")
    with tenant_context(other_tenant):
        theirs = read.rows(action="bench.event")
    assert [r["tenant_id"] for r in mine] == [tenant.id] * 2
    assert [r["tenant_id"] for r in theirs] == [other_tenant.id] * 5
    assert len(calls) == 1


def test_a_tenant_scoped_read_without_a_tenant_context_raises(tenant):
    read = PreparedValues(lambda action: AuditEvent.objects.filter(action=action).values("id"))
    with tenant_context(tenant):
        read.rows(action="x")  # compiled
    with pytest.raises(TenantContextMissing):
        read.rows(action="x")


@pytest.mark.parametrize(
    ("build", "values", "reason"),
    [
        (lambda n: User.objects.filter(name=n).values("id"), {"n": 3}, "only UUID and str"),
        (lambda n: User.objects.filter(name=n).values("id"), {"n": None}, "only UUID and str"),
        (lambda n: User.objects.filter(name__icontains=n).values("id"), {"n": "ann"}, "changed"),
        (lambda n, m: User.objects.filter(name=n).values("id"), {"n": "a", "m": "b"}, "unused"),
        (lambda n: User.objects.filter(name=n), {"n": "a"}, "values()"),
    ],
    ids=["int", "none", "icontains", "unused", "model-rows"],
)
def test_what_cannot_be_replaced_per_call_is_refused(build, values, reason):
    with pytest.raises(PreparationError, match=reason):
        PreparedValues(build).rows(**values)


def test_none_after_compiling_is_refused_not_compared_as_null():
    users = PreparedValues(lambda name: User.objects.filter(name=name).values("id"))
    assert users.rows(name="nobody") == []
    with pytest.raises(PreparationError, match="only UUID and str"):
        users.rows(name=None)


def test_the_all_tenants_wall_is_not_compiled_away(tenant):
    add_events(tenant, 1)
    read = PreparedValues(lambda action: AuditEvent.all_tenants.filter(action=action).values("id"))
    with pytest.raises(TenantContextMissing):
        read.rows(action="bench.event")  # outside `unscoped()`: the manager's own refusal
    with unscoped(), pytest.raises(PreparationError, match="unscoped"):
        read.rows(action="bench.event")  # built once, so never inside the escape
    with tenant_context(tenant), pytest.raises(TenantContextMissing):
        read.rows(action="bench.event")
