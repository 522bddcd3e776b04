"""Pages of the HTTP API: a job's results and explain pages (limit/after), the job list's cursor and filters."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

from .. import reports
from ..units import whole_number
from .base import BadInput

PAGE_SIZE, MAX_PAGE_SIZE = 100, 1000  # tasks per page of results and explain
PAGE_PARAMETERS = [
    OpenApiParameter("limit", int, description=f"tasks per page (default {PAGE_SIZE}, at most {MAX_PAGE_SIZE})"),
    OpenApiParameter("after", int, description="the previous page's next_after (a task id)"),
]


def task_page(request: Request) -> dict[str, int]:
    """``limit`` and ``after`` of a results or explain page, as the query gives them."""
    bounds = {"limit": PAGE_SIZE, "after": 0}
    for name in bounds:
        raw = request.query_params.get(name)
        if raw is None:
            continue
        number = whole_number(raw)
        if number is None:
            raise BadInput({"field": name, "detail": f"must be a whole number of 0 or more, got {raw[:50]!r}"})
        bounds[name] = number
    if not 1 <= bounds["limit"] <= MAX_PAGE_SIZE:
        raise BadInput({"field": "limit", "detail": f"must be 1 to {MAX_PAGE_SIZE}, got {bounds['limit']}"})
    return bounds


def with_next(request: Request, page: dict[str, Any]) -> dict[str, Any]:
    """The page with the URL of the next one (null on the last)."""
    after = page["next_after"]
    return {**page, "next": None if after is None else request.build_absolute_uri(
        f"{request.path}?{urlencode({'limit': request.query_params.get('limit', PAGE_SIZE), 'after': after})}")}


class Filters(DjangoFilterBackend):
    """django-filter's backend, with a bad value a 400 naming its query parameter (as every bad input here)."""

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid():
            field, why = reports.filter_error(filterset.errors, request.query_params)
            raise BadInput({"field": field, "detail": why})
        return filterset.qs


class NewestFirst(CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request: Request) -> int:
        """DRF's, with a bad ``page_size`` a 400 naming it: DRF quietly used the default for ``-1`` or ``abc`` and
        500 for ``100000``, so a client never learned that it got another page size than it asked for."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        size = whole_number(raw)
        if size is None or not 1 <= size <= self.max_page_size:
            raise BadInput({"field": self.page_size_query_param,
                            "detail": f"must be a whole number from 1 to {self.max_page_size}, got {raw[:50]!r}"})
        return size

    def decode_cursor(self, request: Request) -> Cursor | None:
        """DRF's, with a bad cursor a 400 naming it: DRF passes the position (``p=``) to the query unchecked,
        so a crafted one (``p=abc``) failed there with a 500."""
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            cursor = None
            bad = True
        else:
            bad = cursor is not None and cursor.position is not None and not _is_int(cursor.position)
        if bad:
            raise BadInput({"field": "cursor", "detail": "is not a cursor this API returned"})
        return cursor


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True
