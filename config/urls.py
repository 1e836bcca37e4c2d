from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from accounts.views import MeView, TenantListView

from . import health, openapi, views  # noqa: F401  (openapi registers the auth schemes)

tenant_api_v1 = [
    path("me", MeView.as_view(), name="me"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path(
        "api/redoc/",
        SpectacularRedocView.as_view(url_name="schema", template_name="web/redoc.html"),
        name="api-redoc",
    ),
    path("api/v1/me", MeView.as_view(), name="me-unprefixed"),
    path("api/v1/tenants/", TenantListView.as_view(), name="tenant-list"),
    path("t/<str:tenant>/api/v1/", include(tenant_api_v1)),
    path("t/<str:tenant>/api/v1/", include("registry.api.urls")),
    path("t/<str:tenant>/api/v1/", include("registry.tracking.api.urls")),
    path("t/<str:tenant>/", include("registry.mlflow_api.artifacts")),
    path("", include("registry.mlflow_api.artifacts")),
    path("t/<str:tenant>/", include("registry.mlflow_api.urls")),
    path("", include("registry.mlflow_api.urls")),
    # Web views for team members: last, so every API route above wins.
    path("t/<str:tenant>/", include("registry.web.urls")),
]


def handler400(request, exception=None):
    """Django's own refusals (SuspiciousOperation), before any view runs: above all a body over
    DATA_UPLOAD_MAX_MEMORY_SIZE. Without this they are an HTML page with no error code."""
    from django.core.exceptions import RequestDataTooBig

    if isinstance(exception, RequestDataTooBig):
        message = f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
        return JsonResponse({"error_code": "INVALID_PARAMETER_VALUE", "message": message}, status=400)
    return JsonResponse({"error_code": "BAD_REQUEST", "message": "Bad request."}, status=400)


def handler404(request, exception=None):
    return JsonResponse(
        {"error_code": "ENDPOINT_NOT_FOUND", "message": f"No endpoint at {request.path}."}, status=404
    )


def handler500(request):
    import sys

    from config import unavailable

    # Django calls this inside its `except`: a database blip raised outside any view (a middleware's query) is a
    # 503 to retry, not an internal error.
    exc = sys.exc_info()[1]
    if unavailable.is_connection_error(exc):
        return unavailable.response()
    return JsonResponse({"error_code": "INTERNAL_ERROR", "message": "Internal server error."}, status=500)


__all__ = ["urlpatterns", "handler400", "handler404", "handler500", "re_path"]
