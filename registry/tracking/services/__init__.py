"""Writes for experiment tracking, split by concern: `experiments`, `runs`, `logging` (params, tags, metrics),
`inputs`, `logged_models`. Artifact writes are `registry.artifacts.services`; MLflow's JSON is parsed into the typed
values these take by `registry.mlflow_api.payloads`; domain rules are `registry.tracking.validation`.

Every public function is one durable transaction that checks the caller's permission through the gatekeeper
(`registry.permissions.require_experiment`: runs and logged models inherit from their experiment), locks what it
changes (order in `_common`), validates, writes with `update_fields` or bulk inserts, and appends the audit event
last. Every public name is re-exported here: `from registry.tracking import services`."""

from __future__ import annotations

from ..entities import DatasetInputSpec, MetricPoint, ModelOutput
from ._common import experiment_artifact_location, logged_model_artifact_uri, run_artifact_uri
from .experiments import (
    DEFAULT_EXPERIMENT_NAME,
    experiment_create,
    experiment_create_default,
    experiment_delete,
    experiment_delete_tag,
    experiment_rename,
    experiment_restore,
    experiment_set_grants,
    experiment_set_tag,
)
from .inputs import run_log_inputs
from .logged_models import (
    logged_model_create,
    logged_model_delete_tag,
    logged_model_finalize,
    logged_model_set_tags,
)
from .logging import run_delete_tag, run_log_batch, run_log_metric, run_log_param, run_set_tag
from .runs import (
    RUN_NAME_TAG,
    USER_TAG,
    generate_run_name,
    run_create,
    run_delete,
    run_log_outputs,
    run_restore,
    run_update,
)

__all__ = [
    "DEFAULT_EXPERIMENT_NAME",
    "RUN_NAME_TAG",
    "USER_TAG",
    "DatasetInputSpec",
    "MetricPoint",
    "ModelOutput",
    "experiment_artifact_location",
    "experiment_create",
    "experiment_create_default",
    "experiment_delete",
    "experiment_delete_tag",
    "experiment_rename",
    "experiment_restore",
    "experiment_set_grants",
    "experiment_set_tag",
    "generate_run_name",
    "logged_model_artifact_uri",
    "logged_model_create",
    "logged_model_delete_tag",
    "logged_model_finalize",
    "logged_model_set_tags",
    "run_artifact_uri",
    "run_create",
    "run_delete",
    "run_delete_tag",
    "run_log_batch",
    "run_log_inputs",
    "run_log_metric",
    "run_log_outputs",
    "run_log_param",
    "run_restore",
    "run_set_tag",
    "run_update",
]
