"""The OpenAPI schema's shared parts, in one place for every native API: the error body and the error responses
each operation documents, and descriptions of Modelgate's authentication classes (drf-spectacular only knows
DRF's own; defining the extensions registers them, so `config.urls` imports this module)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorOutput(serializers.Serializer):
    """Every error: a stable code and a human message (see `config.errors`)."""

    error_code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.JSONField(required=False)


ERRORS = {
    400: OpenApiResponse(ErrorOutput, description="INVALID_PARAMETER_VALUE"),
    403: OpenApiResponse(ErrorOutput, description="PERMISSION_DENIED"),
    404: OpenApiResponse(ErrorOutput, description="RESOURCE_DOES_NOT_EXIST (missing, or not yours)"),
}
CONFLICT = {409: OpenApiResponse(ErrorOutput, description="CONFLICT: a precondition is stale")}
ALREADY_EXISTS = {409: OpenApiResponse(ErrorOutput, description="RESOURCE_ALREADY_EXISTS: the name is taken")}


def errors(*extra: dict[int, OpenApiResponse]) -> dict[int, OpenApiResponse]:
    """The common error responses plus an operation's own (`errors(CONFLICT)`)."""
    merged = dict(ERRORS)
    for item in extra:
        merged.update(item)
    return merged


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "mgt_…",
            "description": "An API token: `Authorization: Bearer mgt_…` (or HTTP Basic with it as password).",
        }


class SessionAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.SessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME}
