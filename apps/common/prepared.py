"""Hot reads the ORM compiles once per process: `PreparedValues`.

Turning a queryset into SQL costs far more than sending it: `auth/me/`'s one query
(the account with its portal, tenant and MFA flag as subqueries) took 1.3 ms of CPU
to build and compile and 0.12 ms to run. A read whose shape never changes (only
its values do) can be compiled once:

    ME = PreparedValues(lambda user_id, portal: User.objects.filter(id=user_id).annotate(...).values(...)[:1])
    row = ME.row(user_id=..., portal=...)

The queryset stays the one definition of the read. The first call builds it with a
stand-in for each value (a fresh UUID for a UUID, a unique string for a string),
compiles it on the connection it will run on, and finds each stand-in among the
statement's parameters; every later call sends the same SQL with its own values in
those places, and converts the columns as `values()` would (Django's converters).

Tenancy stays fail-closed. The build runs as a stand-in tenant, so the filter a
tenant-scoped manager adds (`tenant_id = <current tenant>`) becomes a slot too, and
each call fills it from the tenant context it runs in: none raises
`TenantContextMissing`, as the manager would. Row-level security is untouched (the
statement goes through the connection's cursor and its execute wrappers, like any
query).

Compiling refuses what it could get wrong, when the read is first used:
- a value of another type than UUID or str (an int or a bool could not be told
  apart from the query's own constants);
- a stand-in the SQL does not carry as a whole parameter (inlined, or changed, as
  `__contains` or `__iexact` change it): it could not be replaced;
- a build that leaves a value unused, and a queryset that is not a `values()` read;
- compiling inside `unscoped()`: `all_tenants` checks for the escape when a queryset is
  built, and a prepared read is built once, so it is compiled only as a tenant's read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

from django.db import connections, router
from django.db.models import Model, QuerySet
from django.db.models.query import ValuesIterable

from apps.common.tenancy import is_unscoped, require_tenant, tenant_bound

TENANT_SLOT = "(tenant context)"


class PreparationError(TypeError):
    """The read cannot be compiled once and reused (see the module): keep it a plain queryset."""


@dataclass(frozen=True)
class _StandInTenant:
    id: UUID


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # Per parameter: (slot, as_hex) for a call's value (as a UUID's hex text if as_hex), (None, constant) else.
    params: tuple[tuple[str | None, Any], ...]
    names: tuple[str, ...]
    converters: dict[int, tuple[list[Callable[..., Any]], Any]]


class PreparedValues:
    """A `values()` read compiled once per database alias, run with each call's values (see the module)."""

    def __init__(self, build: Callable[..., QuerySet[Any]]) -> None:
        self.build = build
        self._compiled: dict[str, _Compiled] = {}
        self._model: type[Model] | None = None
        self._lock = threading.Lock()

    def rows(self, **values: Any) -> list[dict[str, Any]]:
        """Every row, as the `values()` queryset would give them."""
        for name, value in values.items():
            if not isinstance(value, UUID | str):  # None would compare `= NULL`, never `IS NULL`
                raise PreparationError(f"{name}={value!r}: only UUID and str values can be prepared.")
        compiled, alias = self._compiled_for(values)
        params = [_param(slot, extra, values) for slot, extra in compiled.params]
        connection = connections[alias]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            fetched = cursor.fetchall()
        rows = []
        for fetched_row in fetched:
            row = list(fetched_row)
            for position, (functions, expression) in compiled.converters.items():
                value = row[position]
                for function in functions:
                    value = function(value, expression, connection)
                row[position] = value
            rows.append(dict(zip(compiled.names, row, strict=False)))
        return rows

    def row(self, **values: Any) -> dict[str, Any] | None:
        """The first row or None (slice the queryset to `[:1]` so the statement says LIMIT 1)."""
        found = self.rows(**values)
        return found[0] if found else None

    def _compiled_for(self, values: dict[str, Any]) -> tuple[_Compiled, str]:
        # The database the router reads the model from, as the queryset itself would ask.
        alias: str | None = router.db_for_read(self._model) if self._model is not None else None
        compiled = self._compiled.get(alias) if alias is not None else None
        if compiled is None or alias is None:
            with self._lock:
                compiled, alias = self._compile(values)
                self._compiled[alias] = compiled
        return compiled, alias

    def _compile(self, values: dict[str, Any]) -> tuple[_Compiled, str]:
        if is_unscoped():
            # `all_tenants` checks for the escape when a queryset is built, and this one is built once.
            raise PreparationError("A prepared read is a tenant's read: it is never compiled inside unscoped().")
        stand_ins = _stand_ins(values)
        tenant = _StandInTenant(uuid4())
        with tenant_bound(tenant):
            queryset = self.build(**stand_ins)
        self._model, alias = queryset.model, queryset.db
        if not issubclass(queryset._iterable_class, ValuesIterable):
            raise PreparationError("PreparedValues needs a values() queryset (rows as dicts).")
        compiler = queryset.query.get_compiler(using=alias)
        sql, raw_params = compiler.as_sql()
        slots = {**stand_ins, TENANT_SLOT: tenant.id}
        params: list[tuple[str | None, Any]] = []
        used: set[str] = set()
        for param in raw_params:
            slot = _slot_of(param, slots)
            if slot is None:
                _refuse_hidden(param, slots)
                params.append((None, param))
            else:
                used.add(slot[0])
                params.append(slot)
        for name, stand_in in slots.items():
            if name != TENANT_SLOT and name not in used:
                raise PreparationError(f"The build leaves {name!r} unused, or not as a whole parameter.")
            for form in _forms(stand_in):
                if form in sql:
                    raise PreparationError(f"The SQL carries {name!r} inline: it cannot be replaced per call.")
        query = queryset.query
        # As `ValuesIterable` names the columns.
        names = tuple(query.selected or (*query.extra_select, *query.values_select, *query.annotation_select))
        fields = [selected[0] for selected in compiler.select[0 : compiler.col_count]]
        converters = compiler.get_converters(fields)
        return _Compiled(sql=sql, params=tuple(params), names=names, converters=converters), alias


def _param(slot: str | None, extra: Any, values: dict[str, Any]) -> Any:
    if slot is None:
        return extra  # the query's own constant
    value = require_tenant().id if slot == TENANT_SLOT else values[slot]
    return UUID(str(value)).hex if extra else value  # extra: the database takes UUIDs as hex text


def _stand_ins(values: dict[str, Any]) -> dict[str, Any]:
    stand_ins: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, UUID):
            stand_ins[name] = uuid4()
        elif isinstance(value, str):
            stand_ins[name] = f"prepared:{name}:{uuid4().hex}"
        else:
            raise PreparationError(f"{name}={value!r}: only UUID and str values can be prepared.")
    return stand_ins


def _forms(stand_in: Any) -> tuple[str, ...]:
    return (stand_in.hex, str(stand_in)) if isinstance(stand_in, UUID) else (stand_in,)


def _slot_of(param: Any, slots: dict[str, Any]) -> tuple[str, bool] | None:
    """(slot, as_hex) when `param` is a stand-in as a whole: itself, or a UUID's hex text."""
    for name, stand_in in slots.items():
        if param == stand_in:
            return (name, False)
        if isinstance(stand_in, UUID) and param == stand_in.hex:
            return (name, True)
    return None


def _refuse_hidden(param: Any, slots: dict[str, Any]) -> None:
    text = str(param)
    for name, stand_in in slots.items():
        if any(form in text for form in _forms(stand_in)):
            raise PreparationError(f"{name!r} reaches the SQL changed ({param!r}): it cannot be replaced per call.")
