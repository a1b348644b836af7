"""Page-number pagination: documented shape, clamped sizes, and no 500 on absurd input."""

from __future__ import annotations

import pytest
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from apps.common.pagination import MAX_PAGE, PagePagination, page_size_from

factory = APIRequestFactory()


def _request(query: str) -> Request:
    return Request(factory.get(f"/items/?{query}"))


@pytest.mark.parametrize(
    ("query", "size"),
    [("", 20), ("page_size=5", 5), ("page_size=1000", 100), ("page_size=0", 1), ("page_size=x", 20)],
)
def test_page_size_defaults_and_clamps(query, size):
    assert page_size_from(_request(query)) == size


def test_pages_link_to_each_other_without_counting():
    paginator = PagePagination()
    rows = paginator.paginate_queryset(list(range(45)), _request("page=2&page_size=20"))
    assert rows == list(range(20, 40))
    body = paginator.get_paginated_response(rows).data
    assert set(body) == {"results", "next", "previous"}
    assert "page=3" in body["next"]
    assert "page=" not in body["previous"]


def test_last_page_has_no_next():
    paginator = PagePagination()
    rows = paginator.paginate_queryset(list(range(45)), _request("page=3"))
    assert rows == list(range(40, 45))
    assert paginator.get_paginated_response(rows).data["next"] is None


@pytest.mark.parametrize("page", ["99999999999999999999", "-3", "abc", "1.5"])
def test_absurd_pages_are_clamped_or_ignored(page):
    paginator = PagePagination()
    paginator.paginate_queryset(list(range(3)), _request(f"page={page}"))
    assert 1 <= paginator.page <= MAX_PAGE


@pytest.mark.django_db
def test_huge_page_on_a_real_query_is_an_empty_page_not_an_error():
    from django.contrib.contenttypes.models import ContentType

    paginator = PagePagination()
    rows = paginator.paginate_queryset(ContentType.objects.order_by("id"), _request("page=99999999999999999999"))
    assert rows == []
