"""What the API-key and webhook pages share: the API's cursor paging, the acting rows, a secret shown once.

Kept apart from either page so they do not import each other. A secret (an API
key, a signing secret) is only ever in the body of the answer to the POST that
made it: never in a URL, a redirect, a message kept in the session or a log,
and that answer says `Cache-Control: no-store` so no cache keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers
from rest_framework.exceptions import NotFound as InvalidCursor
from rest_framework.request import Request

from apps.common.exceptions import NotFound
from apps.common.pagination import NewestFirstCursorPagination
from apps.identity.models import Tenant, User
from apps.identity.selectors import actor_get
from apps.identity.selectors.tenancy import tenant_get


@dataclass(frozen=True)
class Listing:
    """One page of a newest-first list and the links to the pages beside it (None at either end)."""

    rows: list[Any]
    next_url: str | None
    previous_url: str | None


def _pager_link(base: str, link: str | None) -> str | None:
    """DRF's absolute link to another page, as a link to `base` with the same query."""
    if link is None:
        return None
    query = urlsplit(link).query
    return f"{base}?{query}" if query else base


def cursor_listing(request: HttpRequest, queryset: QuerySet[Any], *, base: str) -> Listing:
    """One page of `queryset` by the API's cursor rules (newest first); a cursor it did not mint is the 404 page."""
    paginator = NewestFirstCursorPagination()
    try:
        rows = paginator.paginate_queryset(queryset, Request(request)) or []
    except InvalidCursor as exc:
        raise NotFound("There is no such page of the list: the link is broken or out of date.") from exc
    return Listing(
        rows=rows,
        next_url=_pager_link(base, paginator.get_next_link()),
        previous_url=_pager_link(base, paginator.get_previous_link()),
    )


def shown_once(response: HttpResponse) -> HttpResponse:
    """The answer that holds a secret: no cache (browser, proxy) may keep it or replay it."""
    add_never_cache_headers(response)
    return response


class TenantWrites:
    """What the API's views pass to the services: the tenant row and the acting user, each loaded once."""

    principal: Any

    def writes(self) -> tuple[Tenant, User]:
        return tenant_get(tenant_id=self.principal.tenant_id), actor_get(user_id=self.principal.user_id)
