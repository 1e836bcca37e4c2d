"""MLflow's JSON for tracking entities (shapes from wire-contract.md §3 and traffic-3.17.2.jsonl): ids as strings,
timestamps as integer ms, NaN/±inf doubles as strings, enums by name, empty fields left out. Expects the prefetches
of `registry.tracking.selectors` (`with_run_data`, `with_logged_model_data`)."""

from __future__ import annotations

from typing import Any

from registry.tracking.models import Experiment, LoggedModel, Metric, Run

from .base import json_double


def _kv(rows) -> list[dict[str, str]]:
    return [{"key": r.key, "value": r.value} for r in rows]


def experiment_json(experiment: Experiment, *, tags=None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "experiment_id": str(experiment.number),
        "name": experiment.name,
        "artifact_location": experiment.artifact_location,
        "lifecycle_stage": experiment.lifecycle_stage,
        "last_update_time": experiment.last_update_time,
        "creation_time": experiment.creation_time,
    }
    tag_rows = list(tags if tags is not None else experiment.tags.order_by("id"))
    if tag_rows:
        data["tags"] = _kv(tag_rows)
    return data


def run_info_json(run: Run) -> dict[str, Any]:
    data: dict[str, Any] = {
        "run_uuid": run.run_id,
        "experiment_id": str(run.experiment.number),
        "run_name": run.name,
        "user_id": run.user_label,
        "status": run.status,
        "start_time": run.start_time,
    }
    if run.end_time is not None:
        data["end_time"] = run.end_time
    data.update(
        {"artifact_uri": run.artifact_uri, "lifecycle_stage": run.lifecycle_stage, "run_id": run.run_id}
    )
    return data


def metric_json(metric, *, with_model: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "key": metric.key,
        "value": json_double(metric.value),
        "timestamp": metric.timestamp,
        "step": metric.step,
    }
    if with_model:
        if getattr(metric, "model_id", ""):
            data["model_id"] = metric.model_id
        if getattr(metric, "dataset_name", ""):
            data["dataset_name"] = metric.dataset_name
        if getattr(metric, "dataset_digest", ""):
            data["dataset_digest"] = metric.dataset_digest
        data["run_id"] = metric.run.run_id
    return data


def run_json(run: Run, *, with_outputs: bool = True) -> dict[str, Any]:
    """A run with its data; expects `selectors.with_run_data` prefetches. (MLflow's runs/create reply has no
    `outputs`; every other reply has it, empty or not.)"""
    data: dict[str, Any] = {}
    metrics = [metric_json(m) for m in run.latest_metrics.all()]
    params = _kv(run.params.all())
    tags = _kv(run.tags.all())
    if metrics:
        data["metrics"] = metrics
    if params:
        data["params"] = params
    if tags:
        data["tags"] = tags
    result: dict[str, Any] = {"info": run_info_json(run), "data": data, "inputs": run_inputs_json(run)}
    if with_outputs:
        outputs = [{"model_id": o.logged_model.model_id, "step": o.step} for o in run.outputs.all()]
        result["outputs"] = {"model_outputs": outputs} if outputs else {}
    return result


def dataset_input_json(run_input) -> dict[str, Any]:
    """MLflow's `DatasetInput`: `{tags?: [{key, value}], dataset: {name, digest, source_type, source, schema?,
    profile?}}` (unset optional fields left out, as the protobuf JSON does)."""
    dataset = run_input.dataset
    body: dict[str, Any] = {
        "name": dataset.name,
        "digest": dataset.digest,
        "source_type": dataset.source_type,
        "source": dataset.source,
    }
    if dataset.schema is not None:
        body["schema"] = dataset.schema
    if dataset.profile is not None:
        body["profile"] = dataset.profile
    data: dict[str, Any] = {}
    tags = _kv(run_input.tags.all())
    if tags:
        data["tags"] = tags
    data["dataset"] = body
    return data


def run_inputs_json(run: Run) -> dict[str, Any]:
    """`Run.inputs`; expects `selectors.with_run_data` prefetches."""
    inputs: dict[str, Any] = {}
    datasets = [dataset_input_json(i) for i in run.dataset_inputs.all()]
    models = [{"model_id": m.logged_model.model_id} for m in run.model_inputs.all()]
    if datasets:
        inputs["dataset_inputs"] = datasets
    if models:
        inputs["model_inputs"] = models
    return inputs


def logged_model_json(model: LoggedModel, metrics: list[Metric]) -> dict[str, Any]:
    info: dict[str, Any] = {
        "model_id": model.model_id,
        "experiment_id": str(model.experiment.number),
        "name": model.name,
        "creation_timestamp_ms": model.creation_timestamp,
        "last_updated_timestamp_ms": model.last_updated_timestamp,
        "artifact_uri": model.artifact_uri,
        "status": model.status,
        "model_type": model.model_type,
    }
    if model.source_run_id and model.source_run:
        info["source_run_id"] = model.source_run.run_id
    if model.status_message:
        info["status_message"] = model.status_message
    info["tags"] = _kv(model.tags.all())
    data: dict[str, Any] = {"params": _kv(model.params.all())}
    if metrics:
        data["metrics"] = [metric_json(m, with_model=True) for m in metrics]
    return {"info": info, "data": data}
