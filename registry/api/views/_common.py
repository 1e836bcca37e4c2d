"""Shared by the native registry API views: the OpenAPI tag, the `If-Match` parameter, input validation."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from config.openapi import ErrorOutput

TAG = "registry"
IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="Precondition: the ETag from GET (or, for stages, a stage name; for aliases, a version number). "
    "Stale → 409 CONFLICT.",
)
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="Makes a retried create harmless: the same key with the same body answers the first result "
    "(`Idempotent-Replayed: true`); the same key with another body is 422 IDEMPOTENCY_KEY_REUSED. Kept 24 h.",
)
IDEMPOTENCY_REUSED = {
    422: OpenApiResponse(
        ErrorOutput, description="IDEMPOTENCY_KEY_REUSED: the key was used with another request"
    )
}


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
