"""Server-level MLflow endpoints that need no tenant."""

from __future__ import annotations

from django.http import JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def server_info(request, tenant: str | None = None):
    # workspaces_enabled: a client with MLFLOW_WORKSPACE set checks this (possibly without the header) before it
    # sends X-MLFLOW-WORKSPACE on its calls. Nothing tenant-specific is revealed here.
    return JsonResponse(
        {
            "store_type": "SqlStore",
            "workspaces_enabled": True,
            "multipart_uploads_enabled": False,
            "multipart_downloads_enabled": False,
        }
    )
