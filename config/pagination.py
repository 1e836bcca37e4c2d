from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination


class Pagination(LimitOffsetPagination):
    """Native API lists: `?limit=&offset=`, answers `{"count", "next", "previous", "results"}`."""

    default_limit = 100
    max_limit = 1000
