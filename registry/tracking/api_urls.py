"""The native tracking API, mounted by config.urls at `t/<tenant>/api/v1/`."""

from __future__ import annotations

from django.urls import path

from . import api

urlpatterns = [
    path("experiments/", api.ExperimentListView.as_view(), name="tracking-experiments"),
    path("experiments/<str:experiment_id>", api.ExperimentDetailView.as_view(), name="tracking-experiment"),
    path(
        "experiments/<str:experiment_id>/permissions",
        api.ExperimentPermissionsView.as_view(),
        name="tracking-experiment-permissions",
    ),
    path("runs/compare", api.RunCompareView.as_view(), name="tracking-runs-compare"),
    path("runs/<str:run_id>", api.RunDetailView.as_view(), name="tracking-run"),
]
