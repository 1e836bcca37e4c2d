from __future__ import annotations

from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.views import MeView, TenantListView

from . import health, views

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
    path("api/v1/me", MeView.as_view(), name="me-unprefixed"),
    path("api/v1/tenants/", TenantListView.as_view(), name="tenant-list"),
    path("t/<str:tenant>/api/v1/", include(tenant_api_v1)),
    path("t/<str:tenant>/api/v1/", include("registry.api.urls")),
    path("t/<str:tenant>/api/v1/", include("registry.tracking.api_urls")),
    path("t/<str:tenant>/", include("registry.mlflow_api.artifacts")),
    path("", include("registry.mlflow_api.artifacts")),
    path("t/<str:tenant>/", include("registry.mlflow_api.urls")),
    path("", include("registry.mlflow_api.urls")),
]


def handler404(request, exception=None):
    return JsonResponse({"error_code": "ENDPOINT_NOT_FOUND", "message": f"No endpoint at {request.path}."},
                        status=404)


def handler500(request):
    return JsonResponse({"error_code": "INTERNAL_ERROR", "message": "Internal server error."}, status=500)


__all__ = ["urlpatterns", "handler404", "handler500", "re_path"]
