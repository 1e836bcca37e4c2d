"""OpenAPI descriptions of Modelgate's authentication classes, so the schema documents how to authenticate
(drf-spectacular only knows DRF's own classes). Imported by the views module, which registers them."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension


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
