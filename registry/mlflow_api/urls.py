"""Mounted twice by config.urls: under `t/<tenant>/` and unprefixed (tenant from `X-MLFLOW-WORKSPACE`)."""

from __future__ import annotations

from django.urls import path, re_path

from . import handlers  # noqa: F401  (registers every route)
from .base import Mlflow3ApiView, MlflowApiView
from .server import server_info

urlpatterns = [
    path("api/3.0/mlflow/server-info", server_info),
    path("api/3.0/mlflow/server-features", server_info),
    re_path(r"^api/2\.0/(?P<api_path>mlflow/.*)$", MlflowApiView.as_view()),
    re_path(r"^ajax-api/2\.0/(?P<api_path>mlflow/.*)$", MlflowApiView.as_view()),
    re_path(r"^api/3\.0/(?P<api_path>mlflow/.*)$", Mlflow3ApiView.as_view()),
]
