"""Input and output serializers of the native tracking API (`registry/tracking/api/views.py`)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from registry.mlflow_api.base import json_double

from ..models import DATASET_CONTEXT_TAG, Experiment, Run


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
        return obj.owner_team.slug if obj.owner_team_id and obj.owner_team else None

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
