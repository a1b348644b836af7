"""Pagination shapes of docs/api.md: `{"results": [...], "next": url|null, "previous": url|null}`.

`PagePagination` for bounded lists (no COUNT: it fetches one row more than a
page to know whether there is a next one); `NewestFirstCursorPagination` for
lists that grow without bound (audit events, files, runs, invoices).

A cursor is opaque: only the values of `next` and `previous` are accepted.
Anything else (not base64, an empty or unknown field, a field twice, a
position that is no value of the ordering field) is 404 `not_found`, never
quietly the first page, which would make a client that broke its cursor
loop over page 1 forever.
"""

from __future__ import annotations

import binascii
from base64 import b64decode
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.utils import timezone
from rest_framework.exceptions import NotFound
from rest_framework.pagination import BasePagination, Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_PAGE = 1_000_000


def page_size_from(request: Request) -> int:
    """`?page_size=`: default 20, larger values clamped to 100, nonsense ignored."""
    raw = request.query_params.get("page_size")
    try:
        size = int(raw) if raw is not None else DEFAULT_PAGE_SIZE
    except ValueError:
        return DEFAULT_PAGE_SIZE
    return max(1, min(size, MAX_PAGE_SIZE))


class PagePagination(BasePagination):
    page_query_param = "page"

    def paginate_queryset(
        self, queryset: QuerySet[Any] | Sequence[Any], request: Request, view: APIView | None = None
    ) -> list[Any]:
        self.request = request
        self.page_size = page_size_from(request)
        try:
            # Bounded so the offset stays a valid integer for any database (no 500 on ?page=10**20).
            self.page = min(max(1, int(request.query_params.get(self.page_query_param, 1))), MAX_PAGE)
        except ValueError:
            self.page = 1
        start = (self.page - 1) * self.page_size
        rows = list(queryset[start : start + self.page_size + 1])
        self.has_next = len(rows) > self.page_size
        return rows[: self.page_size]

    def _url(self, page: int) -> str:
        url = self.request.build_absolute_uri()
        if page == 1:
            return remove_query_param(url, self.page_query_param)
        return replace_query_param(url, self.page_query_param, page)

    def get_paginated_response(self, data: Any) -> Response:
        return Response(
            {
                "results": data,
                "next": self._url(self.page + 1) if self.has_next else None,
                "previous": self._url(self.page - 1) if self.page > 1 else None,
            }
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["results", "next", "previous"],
            "properties": {
                "results": schema,
                "next": {"type": "string", "format": "uri", "nullable": True},
                "previous": {"type": "string", "format": "uri", "nullable": True},
            },
        }

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        return [
            {"name": "page", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}},
            {"name": "page_size", "in": "query", "required": False, "schema": {"type": "integer", "maximum": 100}},
        ]


class NewestFirstCursorPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = DEFAULT_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request: Request) -> int:
        return page_size_from(request)

    def decode_cursor(self, request: Request) -> Cursor | None:
        """The cursor exactly as `encode_cursor` writes it (`o`, `r`, `p`, each at most once), or 404."""
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            # validate=True: the default decoder skips characters outside the alphabet, so an edited
            # cursor could still decode to something.
            fields = parse_qsl(
                b64decode(encoded.encode("ascii"), validate=True).decode("ascii"),
                keep_blank_values=True,
                strict_parsing=True,
            )
        except (binascii.Error, UnicodeError, ValueError) as exc:
            raise NotFound(self.invalid_cursor_message) from exc
        tokens = dict(fields)
        offset, reverse = tokens.get("o", "0"), tokens.get("r", "0")
        if (
            not tokens
            or len(tokens) != len(fields)
            or not set(tokens) <= {"o", "r", "p"}
            or not (offset.isascii() and offset.isdigit() and len(offset) <= 9)
            or reverse not in {"0", "1"}
            or tokens.get("p") == ""
        ):
            raise NotFound(self.invalid_cursor_message)
        position: Any = tokens.get("p")  # a string, as DRF's own decoder gives it (the stubs say int)
        return Cursor(offset=min(int(offset), self.offset_cutoff), reverse=reverse == "1", position=position)

    def paginate_queryset(
        self, queryset: QuerySet[Any] | Sequence[Any], request: Request, view: APIView | None = None
    ) -> list[Any] | None:
        # A queryset, or a prepared one (`apps.common.prepared.PreparedQuerySet.bind`): both order and filter.
        model = getattr(queryset, "model", None)
        assert model is not None, "cursor pagination orders a queryset"
        cursor = self.decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            # The position is client input that reaches a lookup on the first ordering field:
            # a malformed one is "no such page" (404), never a 500 from the database layer.
            field = model._meta.get_field(self.ordering[0].lstrip("-"))
            try:
                value = field.to_python(cursor.position)
            except (DjangoValidationError, TypeError, ValueError) as exc:
                raise NotFound(self.invalid_cursor_message) from exc
            if isinstance(value, datetime) and timezone.is_naive(value):
                raise NotFound(self.invalid_cursor_message)  # we never mint naive positions
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data: Any) -> Response:
        return Response({"results": data, "next": self.get_next_link(), "previous": self.get_previous_link()})

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return PagePagination().get_paginated_response_schema(schema)
