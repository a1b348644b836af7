"""`PreparedValues`: a read compiled once gives what its queryset gives, per call, per tenant, or refuses."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest
from django.db.models import Count, Q, QuerySet

from apps.common import prepared
from apps.common.prepared import PreparationError, PreparedQuerySet, PreparedRows, PreparedValues
from apps.common.tenancy import TenantContextMissing, tenant_context, unscoped
from apps.identity.models import AuditEvent, Membership, User
from apps.identity.tests.factories import UserFactory, make_membership
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
        (lambda n: User.objects.filter(name=n).values("id"), {"n": 3}, "only UUID, str and datetime"),
        (lambda n: User.objects.filter(name=n).values("id"), {"n": None}, "only UUID, str and datetime"),
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
    with pytest.raises(PreparationError, match="only UUID, str and datetime"):
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


# --- PreparedQuerySet: the pages DRF's cursor pagination asks for -------------------------------


def _events_of(tenant_id: UUID) -> QuerySet[Any]:
    return AuditEvent.objects.filter(tenant_id=tenant_id).values("id", "seq", "created_at")


def _shapes(bound: Any, plain: QuerySet[Any], position: Any) -> list[tuple[Any, QuerySet[Any]]]:
    return [
        (bound.order_by("-created_at", "-seq")[0:5], plain.order_by("-created_at", "-seq")[0:5]),
        (bound.order_by("-created_at", "-seq")[2:9], plain.order_by("-created_at", "-seq")[2:9]),
        (
            bound.order_by("-created_at", "-seq").filter(created_at__lt=position)[0:4],
            plain.order_by("-created_at", "-seq").filter(created_at__lt=position)[0:4],
        ),
        (
            bound.order_by("created_at", "seq").filter(created_at__gt=position)[1:4],
            plain.order_by("created_at", "seq").filter(created_at__gt=position)[1:4],
        ),
    ]


def test_each_page_shape_reads_what_the_queryset_reads_and_is_compiled_once(tenant, other_tenant):
    add_events(tenant, 12)
    add_events(other_tenant, 3)
    builds: list[int] = []

    def build(tenant_id: UUID) -> QuerySet[Any]:
        builds.append(1)
        return _events_of(tenant_id)

    pages = PreparedQuerySet(build, model=AuditEvent)
    with tenant_context(tenant):
        plain = _events_of(tenant.id)
        middle = list(plain.order_by("-created_at", "-seq"))[5]["created_at"]
        for _ in range(2):
            for position in (middle.isoformat(), middle):  # the cursor's text, or the instant itself
                for prepared, expected in _shapes(pages.bind(tenant_id=tenant.id), plain, position):
                    assert list(prepared) == list(expected)
    assert len(builds) == 4  # one per shape, whatever the values
    with tenant_context(other_tenant):
        theirs = list(pages.bind(tenant_id=other_tenant.id).order_by("-created_at", "-seq")[0:5])
        assert theirs == list(_events_of(other_tenant.id).order_by("-created_at", "-seq"))
    assert len(theirs) == 3
    assert len(builds) == 4  # the other tenant's page is the first shape again


def test_another_tenants_id_as_the_value_reads_nothing(tenant, other_tenant):
    add_events(other_tenant, 3)
    pages = PreparedQuerySet(_events_of, model=AuditEvent)
    with tenant_context(tenant):  # the manager's filter is this context's tenant, whatever id is passed
        assert list(pages.bind(tenant_id=other_tenant.id).order_by("-created_at")[0:10]) == []


def test_the_newest_shapes_are_kept_and_the_oldest_compiled_again(tenant, monkeypatch):
    monkeypatch.setattr(prepared, "MAX_SHAPES", 2)
    add_events(tenant, 4)
    builds: list[int] = []
    pages = PreparedQuerySet(lambda tenant_id: builds.append(1) or _events_of(tenant_id), model=AuditEvent)
    with tenant_context(tenant):
        for stop in (1, 2, 3, 1):
            assert len(list(pages.bind(tenant_id=tenant.id).order_by("-created_at")[0:stop])) == stop
    assert len(builds) == 4  # [0:1] fell out when [0:3] came in


@pytest.mark.parametrize(
    "narrow",
    [
        lambda b: b.filter(created_at__lt="2026-01-01T00:00:00+00:00", seq__gt="1"),
        lambda b: b[0:],
        lambda b: b[0:4:2],
    ],
    ids=["two-lookups", "open-slice", "step"],
)
def test_a_page_it_cannot_prepare_is_refused(tenant, narrow):
    pages = PreparedQuerySet(_events_of, model=AuditEvent)
    with tenant_context(tenant), pytest.raises(PreparationError):
        narrow(pages.bind(tenant_id=tenant.id).order_by("-created_at"))


# --- PreparedRows: model instances, related rows included -----------------------------------------


def test_model_rows_come_with_their_related_rows_and_cost_one_statement(tenant, django_assert_num_queries):
    owner, other = UserFactory(), UserFactory()
    with tenant_context(tenant):
        make_membership(user=owner, tenant=tenant, role="owner")
        make_membership(user=other, tenant=tenant, role="member")
    builds: list[int] = []

    def build(user_id: UUID) -> QuerySet[Any]:
        builds.append(1)
        return Membership.objects.select_related("user", "role").filter(user_id=user_id)[:1]

    read = PreparedRows(build)
    with tenant_context(tenant):
        for user, role in ((owner, "owner"), (other, "member"), (owner, "owner")):
            with django_assert_num_queries(1):
                found = read.first(user_id=user.id)
                assert (found.user.email, found.role.code, found.tenant_id) == (user.email, role, tenant.id)
            assert found == Membership.objects.get(user=user)
            assert not found._state.adding  # a row from the database: saving it updates, never inserts
        assert read.first(user_id=uuid4()) is None
    assert len(builds) == 1


def test_model_rows_of_another_tenant_are_not_read(tenant, other_tenant):
    outsider = UserFactory()
    with tenant_context(other_tenant):
        make_membership(user=outsider, tenant=other_tenant, role="member")
    read = PreparedRows(lambda user_id: Membership.objects.filter(user_id=user_id)[:1])
    with tenant_context(other_tenant):
        assert read.first(user_id=outsider.id) is not None
    with tenant_context(tenant):
        assert read.first(user_id=outsider.id) is None


def test_a_prefetch_cannot_be_prepared(tenant):
    read = PreparedRows(lambda user_id: Membership.objects.prefetch_related("role").filter(user_id=user_id))
    with tenant_context(tenant), pytest.raises(PreparationError, match="prefetches"):
        read.all(user_id=uuid4())


def test_admission_reads_the_membership_of_the_portals_own_tenant(tenant, other_tenant):
    from apps.common.exceptions import PermissionDenied
    from apps.identity.selectors.admission import admitted_membership
    from apps.identity.tests.factories import PortalFactory

    both, outsider = UserFactory(), UserFactory()
    make_membership(user=both, tenant=tenant, role="owner")
    make_membership(user=both, tenant=other_tenant, role="member")
    make_membership(user=outsider, tenant=other_tenant, role="admin")
    ours = PortalFactory(tenant=tenant, admitted_roles=["owner", "admin", "member"])
    theirs = PortalFactory(tenant=other_tenant, admitted_roles=["owner", "admin", "member"])
    for _ in range(2):  # the second round runs the statement the first compiled
        assert (admitted_membership(user=both, portal=ours).role.code, ours.tenant_id) == ("owner", tenant.id)
        found = admitted_membership(user=both, portal=theirs)
        assert (found.role.code, found.tenant_id) == ("member", other_tenant.id)
        with pytest.raises(PermissionDenied, match="not a member"):
            admitted_membership(user=outsider, portal=ours)
        assert admitted_membership(user=outsider, portal=theirs).role.code == "admin"
