"""The native tracking API under `/t/<tenant>/api/v1/`: what MLflow's API lacks for experiments and runs (grants,
a side-by-side comparison of runs), documented through drf-spectacular.

Reads go through the tracking selectors (404 for missing and not-yours alike); writes through the services, which
check the level they need (403 when the experiment is visible but the level is missing)."""

from __future__ import annotations

import math
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response

from config.errors import InvalidParameter
from config.pagination import Pagination
from config.validation import check_text
from registry import permissions
from registry.api.serializers import ErrorOutput, GrantsDocument, GrantSerializer
from registry.mlflow_api.base import json_double
from tenants.api import TenantAPIView

from . import selectors, services
from .models import DATASET_CONTEXT_TAG, Experiment, Run

TAG = "tracking"
ERRORS = {
    400: OpenApiResponse(ErrorOutput, description="INVALID_PARAMETER_VALUE"),
    403: OpenApiResponse(ErrorOutput, description="PERMISSION_DENIED"),
    404: OpenApiResponse(ErrorOutput, description="RESOURCE_DOES_NOT_EXIST (missing, or not yours)"),
}
MAX_COMPARE = 50


# --- serializers -------------------------------------------------------------------------------------------------


class ExperimentOutput(serializers.Serializer):
    experiment_id = serializers.SerializerMethodField()
    name = serializers.CharField()
    lifecycle_stage = serializers.CharField()
    artifact_location = serializers.CharField()
    owner_team = serializers.SerializerMethodField()
    creation_time = serializers.IntegerField(help_text="Epoch milliseconds.")
    last_update_time = serializers.IntegerField(help_text="Epoch milliseconds.")
    tags = serializers.SerializerMethodField()

    def get_experiment_id(self, obj: Experiment) -> str:
        return str(obj.number)

    def get_owner_team(self, obj: Experiment) -> str | None:
        return obj.owner_team.slug if obj.owner_team_id else None

    def get_tags(self, obj: Experiment) -> dict[str, str]:
        return {t.key: t.value for t in obj.tags.all()}


class ExperimentDetailOutput(ExperimentOutput):
    permission_level = serializers.SerializerMethodField(help_text="Your level on this experiment.")
    runs = serializers.SerializerMethodField(help_text="Active runs in the experiment.")

    def get_permission_level(self, obj: Experiment) -> str | None:
        return self.context.get("permission_level")

    def get_runs(self, obj: Experiment) -> int:
        return obj.runs.filter(lifecycle_stage="active").count()


class RunOutput(serializers.Serializer):
    run_id = serializers.CharField()
    run_name = serializers.CharField(source="name")
    experiment_id = serializers.SerializerMethodField()
    experiment_name = serializers.CharField(source="experiment.name")
    user = serializers.CharField(source="user_label")
    status = serializers.CharField()
    lifecycle_stage = serializers.CharField()
    start_time = serializers.IntegerField()
    end_time = serializers.IntegerField(allow_null=True)
    artifact_uri = serializers.CharField()
    parent_run_id = serializers.SerializerMethodField()
    params = serializers.SerializerMethodField()
    metrics = serializers.SerializerMethodField(help_text="Latest value per key (NaN/±inf as strings).")
    tags = serializers.SerializerMethodField()
    logged_models = serializers.SerializerMethodField()
    datasets = serializers.SerializerMethodField(
        help_text="The datasets the run used: name, digest, source type, source, context and input tags."
    )

    def get_experiment_id(self, obj: Run) -> str:
        return str(obj.experiment.number)

    def get_parent_run_id(self, obj: Run) -> str | None:
        return next((t.value for t in obj.tags.all() if t.key == "mlflow.parentRunId"), None)

    def get_params(self, obj: Run) -> dict[str, str]:
        return {p.key: p.value for p in obj.params.all()}

    def get_metrics(self, obj: Run) -> dict[str, Any]:
        return {
            m.key: {"value": json_double(m.value), "step": m.step, "timestamp": m.timestamp}
            for m in obj.latest_metrics.all()
        }

    def get_tags(self, obj: Run) -> dict[str, str]:
        return {t.key: t.value for t in obj.tags.all()}

    def get_logged_models(self, obj: Run) -> list[dict[str, Any]]:
        return [
            {"model_id": o.logged_model.model_id, "name": o.logged_model.name, "step": o.step}
            for o in obj.outputs.all()
        ]

    def get_datasets(self, obj: Run) -> list[dict[str, Any]]:
        result = []
        for run_input in obj.dataset_inputs.all():
            tags = {t.key: t.value for t in run_input.tags.all()}
            dataset = run_input.dataset
            result.append(
                {
                    "name": dataset.name,
                    "digest": dataset.digest,
                    "source_type": dataset.source_type,
                    "source": dataset.source,
                    "context": tags.get(DATASET_CONTEXT_TAG),
                    "tags": tags,
                }
            )
        return result


class CompareRow(serializers.Serializer):
    key = serializers.CharField()
    values = serializers.DictField(help_text="run_id → value (null where the run lacks the key).")
    differs = serializers.BooleanField(help_text="True when the runs do not all have the same value.")


class CompareOutput(serializers.Serializer):
    runs = serializers.ListField(child=serializers.DictField(), help_text="The runs, in the order asked for.")
    params = CompareRow(many=True)
    metrics = CompareRow(many=True)
    tags = CompareRow(many=True)


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
