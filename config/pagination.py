from __future__ import annotations

from rest_framework.pagination import CursorPagination, LimitOffsetPagination


class Pagination(LimitOffsetPagination):
    """Native API lists: `?limit=&offset=`, answers `{"count", "next", "previous", "results"}`."""

    default_limit = 100
    max_limit = 1000


class NewestFirstCursor(CursorPagination):
    ordering = "-id"
    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 1000
