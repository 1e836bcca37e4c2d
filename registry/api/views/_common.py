"""Shared by the native registry API views: the OpenAPI tag, the `If-Match` parameter, input validation."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

TAG = "registry"
IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="Precondition: the ETag from GET (or, for stages, a stage name; for aliases, a version number). "
    "Stale → 409 CONFLICT.",
)


def _validated(serializer_class, data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _if_match(request: HttpRequest) -> str | None:
    """The `If-Match` value without quotes or a weak marker; None when absent."""
    raw = request.headers.get("If-Match")
    if raw is None:
        return None
    value = raw.strip()
    if value.startswith("W/"):
        value = value[2:]
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return value
