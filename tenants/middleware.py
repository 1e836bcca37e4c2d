"""Tenant resolution: `/t/<tenant>/…` in the path, or `X-MLFLOW-WORKSPACE` on unprefixed MLflow paths.

This only names the tenant (`request.tenant_slug`); whether the caller may see it is decided after authentication,
in `tenants.access.principal_for`, so an unknown tenant and someone else's tenant answer the same way."""

from __future__ import annotations

import re

TENANT_PATH_RE = re.compile(r"^/t/(?P<slug>[^/]+)(?:/|$)")
WORKSPACE_PATHS = ("/api/2.0/mlflow/", "/api/2.0/mlflow-artifacts/", "/api/3.0/mlflow/", "/ajax-api/")


class TenantMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.tenant_slug = tenant_slug_for(request)
        return self.get_response(request)


def tenant_slug_for(request) -> str | None:
    match = TENANT_PATH_RE.match(request.path_info)
    if match:
        return match.group("slug")
    if request.path_info.startswith(WORKSPACE_PATHS):
        header = request.headers.get("X-MLFLOW-WORKSPACE", "").strip()
        return header or None
    return None
