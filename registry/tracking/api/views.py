"""The native tracking API under `/t/<tenant>/api/v1/`: what MLflow's API lacks for experiments and runs (grants,
a side-by-side comparison of runs), documented through drf-spectacular.

Reads go through the tracking selectors (404 for missing and not-yours alike); writes through the services, which
check the level they need (403 when the experiment is visible but the level is missing)."""

from __future__ import annotations

import math
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.response import Response

from config.errors import InvalidParameter
from config.openapi import ERRORS
from config.pagination import Pagination
from config.validation import check_text
from registry import permissions
from registry.api.serializers import GrantsDocument, GrantSerializer
from registry.mlflow_api.base import json_double
from tenants.api import TenantAPIView

from .. import selectors, services
from ..models import Experiment, Run
from .serializers import CompareOutput, ExperimentDetailOutput, ExperimentOutput, RunOutput

TAG = "tracking"
MAX_COMPARE = 50


# --- views -------------------------------------------------------------------------------------------------------


class ExperimentListView(TenantAPIView, generics.GenericAPIView):
    """The experiments you may read, newest first."""

    queryset = Experiment.objects.none()
    pagination_class = Pagination
    serializer_class = ExperimentOutput

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Experiment.objects.none()
        params = self.request.query_params
        qs = selectors.readable_experiments(self.principal).filter(
            lifecycle_stage__in=selectors.lifecycle_stages(params.get("view_type"))
        )
        if params.get("name"):
            qs = qs.filter(
                name__icontains=check_text(params["name"], "name")
            )  # NUL: 400, not a database error
        return qs.select_related("owner_team").prefetch_related("tags").order_by("-creation_time", "number")

    @extend_schema(
        tags=[TAG],
        operation_id="experiments_list",
        parameters=[
            OpenApiParameter("view_type", OpenApiTypes.STR, enum=["ACTIVE_ONLY", "DELETED_ONLY", "ALL"]),
            OpenApiParameter("name", OpenApiTypes.STR, description="Case-insensitive substring of the name."),
        ],
        responses={200: ExperimentOutput(many=True), **ERRORS},
    )
    def get(self, request, tenant: str):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ExperimentOutput(page, many=True).data)


class ExperimentDetailView(TenantAPIView):
    @extend_schema(
        tags=[TAG], operation_id="experiments_retrieve", responses={200: ExperimentDetailOutput, **ERRORS}
    )
    def get(self, request, tenant: str, experiment_id: str):
        experiment = selectors.experiment_get(self.principal, experiment_id)
        level = permissions.effective_level(self.principal, experiment)
        return Response(ExperimentDetailOutput(experiment, context={"permission_level": level}).data)


class ExperimentPermissionsView(TenantAPIView):
    """The experiment's grants, `{"grants": [{"team": slug} or {"user": username}, "level": …]}`. PUT replaces them
    all (manage); the owning team's manage comes from ownership and is not a grant."""

    @extend_schema(
        tags=[TAG], operation_id="experiments_permissions_retrieve", responses={200: GrantsDocument, **ERRORS}
    )
    def get(self, request, tenant: str, experiment_id: str):
        experiment = selectors.experiment_get(self.principal, experiment_id)
        return Response({"grants": permissions.grants_of(experiment)})

    @extend_schema(
        tags=[TAG],
        operation_id="experiments_permissions_update",
        request=GrantsDocument,
        responses={200: GrantsDocument, **ERRORS},
    )
    def put(self, request, tenant: str, experiment_id: str):
        document = GrantsDocument(data=request.data)
        document.is_valid(raise_exception=True)
        experiment = selectors.experiment_get(self.principal, experiment_id)
        grants = [GrantSerializer().to_representation(dict(g)) for g in document.validated_data["grants"]]
        result = services.experiment_set_grants(
            principal=self.principal, experiment=experiment, grants=grants
        )
        return Response({"grants": result})


class RunDetailView(TenantAPIView):
    @extend_schema(tags=[TAG], operation_id="runs_retrieve", responses={200: RunOutput, **ERRORS})
    def get(self, request, tenant: str, run_id: str):
        return Response(RunOutput(selectors.run_get(self.principal, run_id, with_data=True)).data)


def _same(values: list[Any]) -> bool:
    def norm(v: Any) -> Any:
        return "NaN" if isinstance(v, float) and math.isnan(v) else v

    return len({repr(norm(v)) for v in values}) <= 1


def _rows(runs: list[Run], extract) -> list[dict[str, Any]]:
    per_run = [extract(r) for r in runs]
    keys = sorted({k for values in per_run for k in values})
    rows = []
    for key in keys:
        values = [values.get(key) for values in per_run]
        rows.append(
            {
                "key": key,
                "values": {r.run_id: v for r, v in zip(runs, values, strict=True)},
                "differs": not _same(values),
            }
        )
    return rows


class RunCompareView(TenantAPIView):
    @extend_schema(
        tags=[TAG],
        operation_id="runs_compare",
        parameters=[
            OpenApiParameter(
                "run_ids",
                OpenApiTypes.STR,
                required=True,
                description=f"Comma-separated run ids (2 to {MAX_COMPARE}).",
            ),
        ],
        description="Params, latest metrics and tags of several runs side by side; `differs` flags the keys whose "
        "values are not the same in every run (a missing key counts as different).",
        responses={200: CompareOutput, **ERRORS},
    )
    def get(self, request, tenant: str):
        raw = request.query_params.get("run_ids", "")
        run_ids = list(dict.fromkeys(r.strip() for r in raw.split(",") if r.strip()))
        if not run_ids:
            raise InvalidParameter("Give the runs to compare: ?run_ids=a,b,c")
        if len(run_ids) > MAX_COMPARE:
            raise InvalidParameter(f"Compare at most {MAX_COMPARE} runs at a time.")
        runs = [selectors.run_get(self.principal, rid, with_data=True) for rid in run_ids]
        return Response(
            {
                "runs": [
                    {
                        "run_id": r.run_id,
                        "run_name": r.name,
                        "experiment_id": str(r.experiment.number),
                        "status": r.status,
                        "start_time": r.start_time,
                        "end_time": r.end_time,
                        "user": r.user_label,
                    }
                    for r in runs
                ],
                "params": _rows(runs, lambda r: {p.key: p.value for p in r.params.all()}),
                "metrics": [
                    {
                        **row,
                        "values": {
                            k: (json_double(v) if isinstance(v, float) else v)
                            for k, v in row["values"].items()
                        },
                    }
                    for row in _rows(runs, lambda r: {m.key: m.value for m in r.latest_metrics.all()})
                ],
                "tags": _rows(runs, lambda r: {t.key: t.value for t in r.tags.all()}),
            }
        )
