"""Queryset vocabulary: the append-only queryset analytics events are read and written through."""

from __future__ import annotations

from typing import Any, NoReturn, TypeVar

from django.db import models

_M = TypeVar("_M", bound=models.Model)


class AppendOnlyError(RuntimeError):
    """An update or delete of an append-only row was attempted."""


class AppendOnlyQuerySet(models.QuerySet[_M]):
    """Inserts and reads only: `update()`, `delete()` and `bulk_update()` refuse.

    PostgreSQL refuses too (a trigger in the migration), so raw SQL from the
    request path cannot rewrite the log either.
    """

    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError(f"{self.model._meta.label} is append-only: rows are never updated.")

    def delete(self) -> NoReturn:
        raise AppendOnlyError(f"{self.model._meta.label} is append-only: rows are never deleted.")

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> NoReturn:
        raise AppendOnlyError(f"{self.model._meta.label} is append-only: rows are never updated.")

    def update_or_create(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError(f"{self.model._meta.label} is append-only: rows are never updated.")
