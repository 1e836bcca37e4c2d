"""The native tracking API, mounted by config.urls at `t/<tenant>/api/v1/`."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("experiments/", views.ExperimentListView.as_view(), name="tracking-experiments"),
    path("experiments/<str:experiment_id>", views.ExperimentDetailView.as_view(), name="tracking-experiment"),
    path(
        "experiments/<str:experiment_id>/permissions",
        views.ExperimentPermissionsView.as_view(),
        name="tracking-experiment-permissions",
    ),
    path("runs/compare", views.RunCompareView.as_view(), name="tracking-runs-compare"),
    path("runs/<str:run_id>", views.RunDetailView.as_view(), name="tracking-run"),
]
