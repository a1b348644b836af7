"""Hot reads the ORM compiles once per process: `PreparedValues`, `PreparedRows`, and `PreparedQuerySet`.

Turning a queryset into SQL costs far more than sending it: `auth/me/`'s one query
(the account with its portal, tenant and MFA flag as subqueries) took 1.3 ms of CPU
to build and compile and 0.12 ms to run. A read whose shape never changes (only
its values do) can be compiled once (ADR 0018):

    ME = PreparedValues(lambda user_id, portal: User.objects.filter(id=user_id).annotate(...).values(...)[:1])
    row = ME.row(user_id=..., portal=...)

The queryset stays the one definition of the read. The first call builds it with a
stand-in for each value (a fresh UUID for a UUID, a unique string for a string, an
unlikely instant for a datetime), compiles it on the connection it will run on, and
finds each stand-in among the statement's parameters, as it is or as the database
adapts it (a UUID as hex text, a datetime as text on SQLite); every later call sends
the same SQL with its own values in those places, adapted alike, and converts the
columns as `values()` would (Django's converters).

`PreparedRows` is the same for a read of model instances, `select_related` rows included:
they are built as Django's `ModelIterable` builds them (`from_db`, the related populators),
from what the compiler worked out once.

`PreparedQuerySet` is the same for a list that DRF's cursor pagination pages through:
it records what the paginator does to a queryset (`order_by`, one position filter, a
slice) as the page's shape, and compiles each shape once (the most recent
`MAX_SHAPES` are kept).

Tenancy stays fail-closed. The build runs as a stand-in tenant, so the filter a
tenant-scoped manager adds (`tenant_id = <current tenant>`) becomes a slot too, and
each call fills it from the tenant context it runs in: none raises
`TenantContextMissing`, as the manager would. Row-level security is untouched (the
statement goes through the connection's cursor and its execute wrappers, like any
query).

Compiling refuses what it could get wrong, when the read is first used:
- a value of another type than UUID, str or datetime (an int or a bool could not be
  told apart from the query's own constants), and None in any call;
- a stand-in the SQL does not carry as a whole parameter (inlined, or changed, as
  `__contains` or `__iexact` change it): it could not be replaced;
- a build that leaves a value unused, and a queryset that is not a `values()` read;
- compiling inside `unscoped()`: `all_tenants` checks for the escape when a queryset is
  built, and a prepared read is built once, so it is compiled only as a tenant's read.
"""

from __future__ import annotations

import random
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from django.db import connections, router
from django.db.models import Field, Model, QuerySet
from django.db.models.query import ModelIterable, ValuesIterable, get_related_populators

from apps.common.tenancy import is_unscoped, require_tenant, tenant_bound

TENANT_SLOT = "(tenant context)"
MAX_SHAPES = 256  # compiled statements kept per read (a cursor list has one per page size and offset)
_VALUE_TYPES = (UUID, str, datetime)
_EPOCH = datetime(1901, 1, 1, tzinfo=UTC)

Adapter = Callable[[Any, Any], Any]  # (value, connection) -> the parameter the database is sent


class PreparationError(TypeError):
    """The read cannot be compiled once and reused (see the module): keep it a plain queryset."""


@dataclass(frozen=True)
class _StandInTenant:
    id: UUID


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # Per parameter: (slot, adapter) for a call's value, or (None, the query's own constant).
    params: tuple[tuple[str | None, Any], ...]
    names: tuple[str, ...]
    converters: dict[int, tuple[list[Callable[..., Any]], Any]]
    rows: _ModelRows | None = None  # for a queryset of model instances: how `ModelIterable` builds them


@dataclass(frozen=True)
class _ModelRows:
    """What Django's `ModelIterable` computes from a compiled query, kept: the model, its columns, related rows."""

    model: type[Model]
    init_list: list[str]
    start: int
    end: int
    related_populators: list[Any]
    annotation_col_map: dict[str, int]

    def build(self, alias: str, row: list[Any]) -> Model:
        obj = self.model.from_db(alias, self.init_list, row[self.start : self.end])
        for populator in self.related_populators:
            populator.populate(row, obj)
        for name, position in self.annotation_col_map.items():
            setattr(obj, name, row[position])
        return obj


def _as_is(value: Any, connection: Any) -> Any:
    return value


def _uuid_hex(value: Any, connection: Any) -> Any:
    return UUID(str(value)).hex


def _datetime(value: Any, connection: Any) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


_ADAPTERS: dict[type, tuple[Adapter, ...]] = {UUID: (_as_is, _uuid_hex), str: (_as_is,), datetime: (_as_is, _datetime)}


class _Statements:
    """The compiled statements of one read, by (database alias, shape); the newest MAX_SHAPES kept."""

    def __init__(self, *, models: bool = False) -> None:
        self.models = models  # model instances (PreparedRows), else dicts (a values() read)
        self.compiled: OrderedDict[tuple[str, Hashable], _Compiled] = OrderedDict()
        self.model: type[Model] | None = None
        self.lock = threading.Lock()

    def rows(self, shape: Hashable, build: Callable[..., QuerySet[Any]], values: dict[str, Any]) -> list[Any]:
        for name, value in values.items():
            if not isinstance(value, _VALUE_TYPES):  # None would compare `= NULL`, never `IS NULL`
                raise PreparationError(f"{name}={value!r}: only UUID, str and datetime values can be prepared.")
        compiled, alias = self._compiled_for(shape, build, values)
        connection = connections[alias]
        params = [
            extra if slot is None else extra(require_tenant().id if slot == TENANT_SLOT else values[slot], connection)
            for slot, extra in compiled.params
        ]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            fetched = cursor.fetchall()
        rows: list[Any] = []
        for fetched_row in fetched:
            row = list(fetched_row)
            for position, (functions, expression) in compiled.converters.items():
                value = row[position]
                for function in functions:
                    value = function(value, expression, connection)
                row[position] = value
            if compiled.rows is not None:
                rows.append(compiled.rows.build(alias, row))
            else:
                rows.append(dict(zip(compiled.names, row, strict=False)))
        return rows

    def _compiled_for(
        self, shape: Hashable, build: Callable[..., QuerySet[Any]], values: dict[str, Any]
    ) -> tuple[_Compiled, str]:
        # The database the router reads the model from, as the queryset itself would ask.
        alias = router.db_for_read(self.model) if self.model is not None else None
        compiled = self.compiled.get((alias, shape)) if alias is not None else None
        if compiled is not None and alias is not None:
            return compiled, alias
        with self.lock:
            compiled, alias = _compile(self, build, values)
            self.compiled[(alias, shape)] = compiled
            while len(self.compiled) > MAX_SHAPES:
                self.compiled.popitem(last=False)
        return compiled, alias


class PreparedValues:
    """A `values()` read compiled once per database alias, run with each call's values (see the module)."""

    def __init__(self, build: Callable[..., QuerySet[Any]]) -> None:
        self.build = build
        self._statements = _Statements()

    def rows(self, **values: Any) -> list[dict[str, Any]]:
        """Every row, as the `values()` queryset would give them."""
        return self._statements.rows(None, self.build, values)

    def row(self, **values: Any) -> dict[str, Any] | None:
        """The first row or None (slice the queryset to `[:1]` so the statement says LIMIT 1)."""
        found = self.rows(**values)
        return found[0] if found else None


class PreparedRows:
    """Model instances (`select_related` included) from a read compiled once; as `PreparedValues` otherwise."""

    def __init__(self, build: Callable[..., QuerySet[Any]]) -> None:
        self.build = build
        self._statements = _Statements(models=True)

    def all(self, **values: Any) -> list[Any]:
        return self._statements.rows(None, self.build, values)

    def first(self, **values: Any) -> Any:
        """The first instance or None (slice the queryset to `[:1]` so the statement says LIMIT 1)."""
        found = self.all(**values)
        return found[0] if found else None


class PreparedQuerySet:
    """A `values()` list for cursor pagination: `bind(**values)` is what the paginator is handed."""

    def __init__(self, build: Callable[..., QuerySet[Any]], *, model: type[Model]) -> None:
        self.build = build
        self.model = model
        self._statements = _Statements()

    def bind(self, **values: Any) -> BoundQuerySet:
        return BoundQuerySet(self, values, ())


class BoundQuerySet:
    """What DRF's `CursorPagination.paginate_queryset` does to a queryset, recorded; listing it runs the read.

    Supported: `order_by(*fields)`, `filter(<one lookup>=<value>)` (the value is parsed by the
    field, as the ORM would, and travels as a parameter), one slice with both ends. The
    recorded operations, with the slice's numbers, are the statement's shape.
    """

    def __init__(self, prepared: PreparedQuerySet, values: dict[str, Any], shape: tuple[Any, ...]) -> None:
        self.prepared = prepared
        self.model = prepared.model
        self.values = values
        self.shape = shape

    def order_by(self, *fields: str) -> BoundQuerySet:
        return BoundQuerySet(self.prepared, self.values, (*self.shape, ("order_by", fields)))

    def filter(self, **lookups: Any) -> BoundQuerySet:
        if len(lookups) != 1:
            raise PreparationError("One lookup per filter on a prepared page (the cursor's position).")
        ((lookup, value),) = lookups.items()
        name = f"_filter{len(self.shape)}"
        field = self.model._meta.get_field(lookup.split("__")[0])
        if not isinstance(field, Field):
            raise PreparationError(f"{lookup}: a prepared page filters on a field of its own model.")
        parsed = field.to_python(value)
        return BoundQuerySet(self.prepared, {**self.values, name: parsed}, (*self.shape, ("filter", lookup, name)))

    def __getitem__(self, bounds: slice) -> BoundQuerySet:
        if not isinstance(bounds, slice) or bounds.start is None or bounds.stop is None or bounds.step is not None:
            raise PreparationError("A prepared page is sliced [start:stop].")
        return BoundQuerySet(self.prepared, self.values, (*self.shape, ("slice", int(bounds.start), int(bounds.stop))))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        shape = self.shape
        build = self.prepared.build

        def shaped(**values: Any) -> QuerySet[Any]:
            queryset = build(**{k: v for k, v in values.items() if not k.startswith("_filter")})
            for operation in shape:
                if operation[0] == "order_by":
                    queryset = queryset.order_by(*operation[1])
                elif operation[0] == "filter":
                    queryset = queryset.filter(**{operation[1]: values[operation[2]]})
                else:
                    queryset = queryset[operation[1] : operation[2]]
            return queryset

        return iter(self.prepared._statements.rows(shape, shaped, self.values))


def _compile(
    statements: _Statements, build: Callable[..., QuerySet[Any]], values: dict[str, Any]
) -> tuple[_Compiled, str]:
    if is_unscoped():
        # `all_tenants` checks for the escape when a queryset is built, and this one is built once.
        raise PreparationError("A prepared read is a tenant's read: it is never compiled inside unscoped().")
    stand_ins = {name: _stand_in(name, value) for name, value in values.items()}
    tenant = _StandInTenant(uuid4())
    with tenant_bound(tenant):
        queryset = build(**stand_ins)
    statements.model, alias = queryset.model, queryset.db
    models = statements.models
    if not issubclass(queryset._iterable_class, ModelIterable if models else ValuesIterable):
        raise PreparationError("PreparedRows reads model rows; the others need a values() queryset (rows as dicts).")
    if getattr(queryset, "_known_related_objects", None) or getattr(queryset, "_prefetch_related_lookups", None):
        raise PreparationError("A prepared read has no prefetches and no related manager's objects.")
    connection = connections[alias]
    compiler = queryset.query.get_compiler(using=alias)
    sql, raw_params = compiler.as_sql()
    slots = {**stand_ins, TENANT_SLOT: tenant.id}
    params: list[tuple[str | None, Any]] = []
    used: set[str] = set()
    for param in raw_params:
        slot = _slot_of(param, slots, connection)
        if slot is None:
            _refuse_hidden(param, slots, connection)
            params.append((None, param))
        else:
            used.add(slot[0])
            params.append(slot)
    for name, stand_in in slots.items():
        if name != TENANT_SLOT and name not in used:
            raise PreparationError(f"The build leaves {name!r} unused, or not as a whole parameter.")
        if any(form in sql for form in _forms(stand_in, connection)):
            raise PreparationError(f"The SQL carries {name!r} inline: it cannot be replaced per call.")
    query = queryset.query
    # As `ValuesIterable` names the columns.
    names = tuple(query.selected or (*query.extra_select, *query.values_select, *query.annotation_select))
    fields = [selected[0] for selected in compiler.select[0 : compiler.col_count]]
    converters = compiler.get_converters(fields)
    rows = _model_rows(compiler, alias) if models else None
    return _Compiled(sql=sql, params=tuple(params), names=names, converters=converters, rows=rows), alias


def _model_rows(compiler: Any, alias: str) -> _ModelRows:
    """As `ModelIterable.__iter__` sets itself up after compiling (Django 5.2)."""
    select, klass_info = compiler.select, compiler.klass_info
    start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
    return _ModelRows(
        model=klass_info["model"],
        init_list=[column[0].target.attname for column in select[start:end]],
        start=start,
        end=end,
        related_populators=get_related_populators(klass_info, select, alias),  # type: ignore[call-arg]  # 5.2
        annotation_col_map=dict(compiler.annotation_col_map or {}),
    )


def _stand_in(name: str, value: Any) -> Any:
    if isinstance(value, UUID):
        return uuid4()
    if isinstance(value, str):
        return f"prepared:{name}:{uuid4().hex}"
    if isinstance(value, datetime):  # an instant no row holds: some second of 1901, to the microsecond
        return _EPOCH + timedelta(microseconds=random.randrange(1, 10**12))  # noqa: S311 - a marker, not a secret
    raise PreparationError(f"{name}={value!r}: only UUID, str and datetime values can be prepared.")


def _forms(stand_in: Any, connection: Any) -> set[str]:
    """The stand-in's texts that would betray it inlined in the SQL or inside a changed parameter."""
    return {str(adapt(stand_in, connection)) for adapt in _ADAPTERS[type(stand_in)]} | {str(stand_in)}


def _slot_of(param: Any, slots: dict[str, Any], connection: Any) -> tuple[str, Adapter] | None:
    """(slot, adapter) when `param` is a stand-in as a whole, as it is or as the database adapts it."""
    for name, stand_in in slots.items():
        for adapt in _ADAPTERS[type(stand_in)]:
            if param == adapt(stand_in, connection):
                return (name, adapt)
    return None


def _refuse_hidden(param: Any, slots: dict[str, Any], connection: Any) -> None:
    text = str(param)
    for name, stand_in in slots.items():
        if any(form in text for form in _forms(stand_in, connection)):
            raise PreparationError(f"{name!r} reaches the SQL changed ({param!r}): it cannot be replaced per call.")
