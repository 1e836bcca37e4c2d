"""Logging to a run: params (immutable once logged), tags, metric points (history + the latest point per key).

log-metric, log-parameter, set-tag and log-batch are one write path (`_log`): check permission and that the run is
active, then a handful of queries whatever the batch size. Params and tags lock the run row first (serialising the
writers of this run, not of others: params are immutable and tags are audited); metric points do not, as in
MLflow: the history insert and the latest-point upsert (`_metric_sql`) are race-free on their own, so training jobs
logging to one run never queue behind each other. A run deleted while a metric batch is being written may still get
that batch, as in MLflow."""

from __future__ import annotations

import math
from typing import Any

from django.db import transaction

from config.errors import InvalidParameter, NotFound
from registry import events
from registry.permissions import require_experiment
from tenants.access import Principal

from ..entities import MetricPoint
from ..models import Metric, Param, Run, RunTag
from ..validation import (
    MAX_PARAM_VAL_LENGTH,
    MAX_RUN_NAME_LENGTH,
    MAX_TAG_VAL_LENGTH,
    validate_key,
    validate_text,
)
from ._common import actor, check_run_active, delete_tag, lock_run
from ._metric_sql import insert_history, point_key, upsert_latest
from .runs import RUN_NAME_TAG, USER_TAG


def _log_params(run: Run, params: dict[str, str]) -> None:
    existing = dict(Param.objects.filter(run=run, key__in=list(params)).values_list("key", "value"))
    for key, value in params.items():
        if key in existing and existing[key] != value:
            raise InvalidParameter(
                f"Changing param values is not allowed. Param with key='{key}' was already logged with "
                f"value='{existing[key]}' for run ID='{run.run_id}'. Attempted logging new value '{value}'."
            )
    Param.objects.bulk_create(
        [Param(run=run, key=k, value=v) for k, v in params.items() if k not in existing]
    )


def _log_tags(run: Run, tags: dict[str, str]) -> None:
    """Set tags (mutates `tags` so the audit shows what was stored)."""
    if USER_TAG in tags:
        tags[USER_TAG] = (
            run.user_label
        )  # the run's user is the authenticated principal, not the client's claim
    existing = {t.key: t for t in RunTag.objects.filter(run=run, key__in=list(tags))}
    changed = []
    for key, value in tags.items():
        tag = existing.get(key)
        if tag is not None and tag.value != value:
            tag.value = value
            changed.append(tag)
    RunTag.objects.bulk_update(changed, ["value"])
    RunTag.objects.bulk_create(
        [RunTag(run=run, key=k, value=v) for k, v in tags.items() if k not in existing]
    )
    if tags.get(RUN_NAME_TAG) and tags[RUN_NAME_TAG] != run.name:
        run.name = tags[RUN_NAME_TAG][:MAX_RUN_NAME_LENGTH]
        run.save(update_fields=["name"])


def _latest_order(value: float, step: int, timestamp: int) -> tuple[int, int, float]:
    # MLflow's rule: the latest point has the highest (step, timestamp, value); its SQL store keeps NaN as 0 for
    # that comparison (and ±inf as ±max double), which this mirrors.
    if math.isnan(value):
        value = 0.0
    return step, timestamp, value


def _metric_row(run: Run, m: MetricPoint) -> Metric:
    return Metric(
        run=run,
        key=m.key,
        value=m.value,
        timestamp=m.timestamp,
        step=m.step,
        model_id=m.model_id,
        dataset_name=m.dataset_name,
        dataset_digest=m.dataset_digest,
    )


def _append_history(run: Run, metrics: list[MetricPoint]) -> None:
    # MLflow keys a history point by (key, timestamp, step, value): logging an identical point again (a client
    # retry, or `log_model` re-logging the run's metrics with a `model_id`) adds nothing to the history. A
    # re-logged point with a model id tags the existing point with it, which is where the logged model's
    # metrics come from. One query finds the candidates: fresh points have fresh timestamps.
    stored_ids: dict[tuple, set[str]] = {}  # point → the model ids it is stored with ('' = untagged)
    untagged: dict[tuple, Metric] = {}  # point → its untagged row, which a model id may tag
    for stored in Metric.objects.filter(
        run=run, key__in={m.key for m in metrics}, timestamp__in={m.timestamp for m in metrics}
    ):
        point = point_key(stored.key, stored.timestamp, stored.step, stored.value)
        stored_ids.setdefault(point, set()).add(stored.model_id)
        if not stored.model_id:
            untagged[point] = stored
    new_rows, tagged = [], []
    for m in metrics:
        point = point_key(m.key, m.timestamp, m.step, m.value)
        ids = stored_ids.get(point)
        if ids is None:
            row = _metric_row(run, m)
            new_rows.append(row)
            stored_ids[point] = {m.model_id}
            if not m.model_id:
                untagged[point] = row
        elif m.model_id and m.model_id not in ids:
            ids.add(m.model_id)
            if point in untagged:  # tag the untagged point rather than store it twice
                row = untagged.pop(point)
                ids.discard("")
                row.model_id = m.model_id
                if row.pk is not None:
                    tagged.append(row)
            else:
                new_rows.append(_metric_row(run, m))
    Metric.objects.bulk_create(new_rows, ignore_conflicts=True)
    Metric.objects.bulk_update(tagged, ["model_id"])


def _update_latest(run: Run, metrics: list[MetricPoint]) -> None:
    newest: dict[str, MetricPoint] = {}
    for m in metrics:
        best = newest.get(m.key)
        if best is None or _latest_order(m.value, m.step, m.timestamp) > _latest_order(
            best.value, best.step, best.timestamp
        ):
            newest[m.key] = m
    upsert_latest(run.pk, newest)


def _log_metrics(run: Run, metrics: list[MetricPoint]) -> None:
    if any(m.model_id for m in metrics):
        # Points carrying a logged model's id may tag existing points (`log_model` re-logs the run's metrics):
        # rare, and done under the run row lock the caller took.
        _append_history(run, metrics)
    else:
        insert_history(run.pk, metrics)
    _update_latest(run, metrics)


def _log_metrics_unlocked(principal: Principal, run: Run, metrics: list[MetricPoint]) -> None:
    """Metric points only, without a model id: no run row lock (see the module docstring). The caller loaded `run`
    in this request; the statements write only while it is still active, so a run deleted since writes nothing."""
    if run.tenant_id != principal.tenant.pk:
        raise NotFound(f"Run with id={run.run_id} not found")
    require_experiment(principal, run.experiment, "edit", action="log to the run")
    check_run_active(run)
    _log_metrics(run, metrics)


def _log(
    principal: Principal,
    run: Run,
    *,
    metrics: list[MetricPoint],
    params: dict[str, str],
    tags: dict[str, str],
    action: str,
) -> None:
    """The one write path for log-metric, log-parameter, set-tag and log-batch, inside the caller's transaction
    with the run row locked."""
    require_experiment(principal, run.experiment, "edit", action="log to the run")
    check_run_active(run)
    if params:
        _log_params(run, params)
    if tags:
        _log_tags(run, tags)
    if metrics:
        _log_metrics(run, metrics)
    if not params and not tags:
        # Metric points are high-volume telemetry kept in the run's own append-only history; auditing each one
        # would queue every training job of the tenant behind the single audit chain head.
        return
    summary: dict[str, Any] = {}
    if params:
        summary["params"] = params
    if tags:
        summary["tags"] = tags
    if metrics:
        summary["metrics"] = len(metrics)
        summary["metric_keys"] = sorted({m.key for m in metrics})[:50]
    events.emit(tenant=principal.tenant, actor=actor(principal), action=action, obj=run, after=summary)


@transaction.atomic(durable=True)
def run_log_metric(*, principal: Principal, run: Run, metric: MetricPoint) -> None:
    if not metric.model_id:
        _log_metrics_unlocked(principal, run, [metric])
        return
    run = lock_run(principal, run)
    _log(principal, run, metrics=[metric], params={}, tags={}, action="run.metrics_logged")


@transaction.atomic(durable=True)
def run_log_param(*, principal: Principal, run: Run, key: str, value: str) -> None:
    key = validate_key(key)
    value = validate_text(value, "value", MAX_PARAM_VAL_LENGTH)
    run = lock_run(principal, run)
    _log(principal, run, metrics=[], params={key: value}, tags={}, action="run.params_logged")


@transaction.atomic(durable=True)
def run_set_tag(*, principal: Principal, run: Run, key: str, value: str) -> None:
    key = validate_key(key)
    value = validate_text(value, "value", MAX_TAG_VAL_LENGTH)
    run = lock_run(principal, run)
    _log(principal, run, metrics=[], params={}, tags={key: value}, action="run.tags_set")


@transaction.atomic(durable=True)
def run_delete_tag(*, principal: Principal, run: Run, key: str) -> None:
    run = lock_run(principal, run)
    require_experiment(principal, run.experiment, "edit", action="delete a run tag")
    check_run_active(run)
    deleted = delete_tag(RunTag.objects.filter(run=run), key)
    if not deleted:
        raise NotFound(f"No tag with name: {key} in run with id {run.run_id}")
    events.emit(
        tenant=principal.tenant,
        actor=actor(principal),
        action="run.tag_deleted",
        obj=run,
        before={"key": key},
    )


@transaction.atomic(durable=True)
def run_log_batch(
    *,
    principal: Principal,
    run: Run,
    metrics: list[MetricPoint],
    params: dict[str, str],
    tags: dict[str, str],
) -> None:
    """Log a validated batch (`registry.mlflow_api.payloads.parse_batch` builds one from MLflow's JSON)."""
    if metrics and not params and not tags and not any(m.model_id for m in metrics):
        _log_metrics_unlocked(principal, run, metrics)
        return
    run = lock_run(principal, run)
    if not (metrics or params or tags):
        require_experiment(principal, run.experiment, "edit", action="log to the run")
        return
    _log(principal, run, metrics=metrics, params=dict(params), tags=dict(tags), action="run.batch_logged")
