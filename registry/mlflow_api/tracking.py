"""MLflow tracking API: experiments, runs, metrics, logged models (wire-contract.md §2a, §2b; shapes from §3 and
traffic-3.17.2.jsonl).

Handlers parse MLflow's parameters (JSON shapes through `payloads`, into typed values), call tracking services
(writes, which check permissions themselves) and selectors (reads), and render MLflow's JSON (`tracking_json`)."""

from __future__ import annotations

from typing import Any

from registry.tracking import selectors, services
from registry.tracking.models import LoggedModel, Run

from . import payloads
from .base import Call, route
from .tracking_json import experiment_json, logged_model_json, metric_json, run_info_json, run_json


def _logged_model_response(model: LoggedModel) -> dict[str, Any]:
    model = selectors.logged_model_get_for_render(model)
    metrics = selectors.logged_model_metrics([model])[model.model_id]
    return {"model": logged_model_json(model, metrics)}


def _page(body: dict[str, Any], token: str | None) -> dict[str, Any]:
    if token:
        body["next_page_token"] = token
    return body


# --- experiments -------------------------------------------------------------------------------------------------


@route("POST", "mlflow/experiments/create")
def experiments_create(call: Call):
    experiment = services.experiment_create(
        principal=call.principal,
        name=call.string("name"),
        tags=payloads.parse_tags(call.getlist("tags")),
        artifact_location=call.optional_string("artifact_location"),
    )
    return {"experiment_id": str(experiment.number)}


@route("GET", "mlflow/experiments/get")
def experiments_get(call: Call):
    experiment = selectors.experiment_get(call.principal, call.string("experiment_id"))
    return {"experiment": experiment_json(experiment)}


@route("GET", "mlflow/experiments/get-by-name")
def experiments_get_by_name(call: Call):
    experiment = selectors.experiment_get_by_name(call.principal, call.string("experiment_name"))
    return {"experiment": experiment_json(experiment)}


def _search_experiments(call: Call):
    experiments, token = selectors.experiments_search(
        call.principal,
        view_type=call.get("view_type"),
        filter_string=call.get("filter"),
        order_by=call.getlist("order_by"),
        max_results=call.get("max_results"),
        page_token=call.get("page_token"),
    )
    body: dict[str, Any] = {}
    if experiments:
        body["experiments"] = [experiment_json(e, tags=e.tags.all()) for e in experiments]
    return _page(body, token)


route("POST", "mlflow/experiments/search")(_search_experiments)
route("GET", "mlflow/experiments/search")(_search_experiments)


@route("POST", "mlflow/experiments/update")
def experiments_update(call: Call):
    experiment = selectors.experiment_get(call.principal, call.string("experiment_id"))
    new_name = call.optional_string("new_name")
    if new_name:
        services.experiment_rename(principal=call.principal, experiment=experiment, new_name=new_name)
    return {}


@route("POST", "mlflow/experiments/delete")
def experiments_delete(call: Call):
    experiment = selectors.experiment_get(call.principal, call.string("experiment_id"))
    services.experiment_delete(principal=call.principal, experiment=experiment)
    return {}


@route("POST", "mlflow/experiments/restore")
def experiments_restore(call: Call):
    experiment = selectors.experiment_get(call.principal, call.string("experiment_id"))
    services.experiment_restore(principal=call.principal, experiment=experiment)
    return {}


@route("POST", "mlflow/experiments/set-experiment-tag")
def experiments_set_tag(call: Call):
    experiment = selectors.experiment_get(call.principal, call.string("experiment_id"))
    services.experiment_set_tag(
        principal=call.principal,
        experiment=experiment,
        key=call.string("key"),
        value=call.optional_string("value", default=""),
    )
    return {}


@route("POST", "mlflow/experiments/delete-experiment-tag")
def experiments_delete_tag(call: Call):
    experiment = selectors.experiment_get(call.principal, call.string("experiment_id"))
    services.experiment_delete_tag(principal=call.principal, experiment=experiment, key=call.string("key"))
    return {}


# --- runs --------------------------------------------------------------------------------------------------------


def _run(call: Call, *, with_data: bool = False) -> Run:
    return selectors.run_get(call.principal, call.string("run_id", "run_uuid"), with_data=with_data)


@route("POST", "mlflow/runs/create")
def runs_create(call: Call):
    experiment_id = call.get("experiment_id")
    experiment = selectors.experiment_get(
        call.principal, "0" if experiment_id in (None, "") else experiment_id
    )
    # `user_id` from the request is ignored: the run's user is whoever authenticated.
    run = services.run_create(
        principal=call.principal,
        experiment=experiment,
        run_name=call.optional_string("run_name"),
        start_time=payloads.optional_int(call.get("start_time"), "start_time"),
        tags=payloads.parse_tags(call.getlist("tags")),
    )
    return {
        "run": run_json(selectors.run_get(call.principal, run.run_id, with_data=True), with_outputs=False)
    }


@route("GET", "mlflow/runs/get")
def runs_get(call: Call):
    return {"run": run_json(_run(call, with_data=True))}


@route("POST", "mlflow/runs/update")
def runs_update(call: Call):
    run = services.run_update(
        principal=call.principal,
        run=_run(call),
        status=call.optional_string("status"),
        end_time=payloads.optional_int(call.get("end_time"), "end_time"),
        run_name=call.optional_string("run_name"),
    )
    return {"run_info": run_info_json(run)}


@route("POST", "mlflow/runs/delete")
def runs_delete(call: Call):
    services.run_delete(principal=call.principal, run=_run(call))
    return {}


@route("POST", "mlflow/runs/restore")
def runs_restore(call: Call):
    services.run_restore(principal=call.principal, run=_run(call))
    return {}


@route("POST", "mlflow/runs/log-metric")
def runs_log_metric(call: Call):
    run = _run(call)
    metric = payloads.parse_metric(
        {
            k: call.get(k)
            for k in ("key", "value", "timestamp", "step", "model_id", "dataset_name", "dataset_digest")
        }
    )
    services.run_log_metric(principal=call.principal, run=run, metric=metric)
    return {}


@route("POST", "mlflow/runs/log-parameter")
def runs_log_param(call: Call):
    run = _run(call)
    value = payloads.text(call.get("value"), "value")  # a missing value is reported before a missing key
    services.run_log_param(principal=call.principal, run=run, key=call.string("key"), value=value)
    return {}


@route("POST", "mlflow/runs/set-tag")
def runs_set_tag(call: Call):
    run = _run(call)
    raw_value = call.get("value")
    services.run_set_tag(
        principal=call.principal,
        run=run,
        key=call.string("key"),
        value=payloads.text("" if raw_value is None else raw_value, "value"),
    )
    return {}


@route("POST", "mlflow/runs/delete-tag")
def runs_delete_tag(call: Call):
    services.run_delete_tag(principal=call.principal, run=_run(call), key=call.string("key"))
    return {}


@route("POST", "mlflow/runs/log-batch")
def runs_log_batch(call: Call):
    run = _run(call)
    metrics, params, tags = payloads.parse_batch(call.get("metrics"), call.get("params"), call.get("tags"))
    services.run_log_batch(principal=call.principal, run=run, metrics=metrics, params=params, tags=tags)
    return {}


@route("POST", "mlflow/runs/outputs")
def runs_outputs(call: Call):
    run = _run(call)
    models = payloads.parse_model_outputs(call.getlist("models"))
    services.run_log_outputs(principal=call.principal, run=run, models=models)
    return {}


@route("POST", "mlflow/runs/log-inputs")
def runs_log_inputs(call: Call):
    run = _run(call)
    datasets = payloads.parse_dataset_inputs(call.getlist("datasets"))
    models = payloads.parse_model_inputs(call.getlist("models"))
    services.run_log_inputs(principal=call.principal, run=run, datasets=datasets, models=models)
    return {}


def _search_runs(call: Call):
    runs, token = selectors.runs_search(
        call.principal,
        experiment_ids=call.getlist("experiment_ids"),
        filter_string=call.get("filter"),
        run_view_type=call.get("run_view_type"),
        max_results=call.get("max_results"),
        order_by=call.getlist("order_by"),
        page_token=call.get("page_token"),
    )
    body: dict[str, Any] = {}
    if runs:
        body["runs"] = [run_json(r) for r in runs]
    return _page(body, token)


route("POST", "mlflow/runs/search")(_search_runs)


@route("GET", "mlflow/metrics/get-history")
def metrics_get_history(call: Call):
    run = _run(call)
    metrics, token = selectors.metric_history(
        call.principal,
        run,
        call.string("metric_key"),
        max_results=call.get("max_results"),
        page_token=call.get("page_token"),
    )
    return _page({"metrics": [metric_json(m) for m in metrics]}, token)


# --- logged models -----------------------------------------------------------------------------------------------


@route("POST", "mlflow/logged-models")
def logged_models_create(call: Call):
    experiment = selectors.experiment_get(call.principal, call.string("experiment_id"))
    source_run_id = call.optional_string("source_run_id")
    source_run = selectors.run_get(call.principal, source_run_id) if source_run_id else None
    model = services.logged_model_create(
        principal=call.principal,
        experiment=experiment,
        name=call.optional_string("name"),
        source_run=source_run,
        model_type=call.optional_string("model_type"),
        params=payloads.parse_tags(call.getlist("params")),
        tags=payloads.parse_tags(call.getlist("tags")),
    )
    return _logged_model_response(model)


@route("GET", "mlflow/logged-models/{model_id}")
def logged_models_get(call: Call):
    model = selectors.logged_model_get(call.principal, call.path_args["model_id"])
    return {"model": logged_model_json(model, selectors.logged_model_metrics([model])[model.model_id])}


@route("PATCH", "mlflow/logged-models/{model_id}")
def logged_models_finalize(call: Call):
    model = selectors.logged_model_get(call.principal, call.path_args["model_id"], with_data=False)
    model = services.logged_model_finalize(
        principal=call.principal, logged_model=model, status=call.string("status")
    )
    return _logged_model_response(model)


@route("PATCH", "mlflow/logged-models/{model_id}/tags")
def logged_models_set_tags(call: Call):
    model = selectors.logged_model_get(call.principal, call.path_args["model_id"], with_data=False)
    services.logged_model_set_tags(
        principal=call.principal, logged_model=model, tags=payloads.parse_tags(call.getlist("tags"))
    )
    return {}


@route("DELETE", "mlflow/logged-models/{model_id}/tags/{tag_key}")
def logged_models_delete_tag(call: Call):
    model = selectors.logged_model_get(call.principal, call.path_args["model_id"], with_data=False)
    services.logged_model_delete_tag(
        principal=call.principal, logged_model=model, key=call.path_args["tag_key"]
    )
    return {}


@route("POST", "mlflow/logged-models/search")
def logged_models_search(call: Call):
    models, token = selectors.logged_models_search(
        call.principal,
        experiment_ids=call.getlist("experiment_ids"),
        filter_string=call.get("filter"),
        order_by=call.getlist("order_by"),
        max_results=call.get("max_results"),
        page_token=call.get("page_token"),
    )
    body: dict[str, Any] = {}
    if models:
        metrics = selectors.logged_model_metrics(models)
        body["models"] = [logged_model_json(m, metrics[m.model_id]) for m in models]
    return _page(body, token)
