"""Logged models (MLflow 3): create, finalize, tags."""

from __future__ import annotations

import uuid

from django.db import transaction

from config.common import now_ms
from config.errors import InvalidParameter, NotFound
from registry import events
from registry.permissions import require_experiment
from tenants.access import Principal

from ..models import Experiment, LoggedModel, LoggedModelParam, LoggedModelStatus, LoggedModelTag, Run
from ..validation import (
    MAX_LOGGED_MODEL_NAME_LENGTH,
    MAX_MODEL_TYPE_LENGTH,
    MAX_PARAM_VAL_LENGTH,
    validate_tags,
    validate_text,
)
from ._common import (
    actor,
    check_experiment_active,
    delete_tag,
    lock_experiment,
    lock_logged_model,
    logged_model_artifact_uri,
)
from .runs import generate_run_name


@transaction.atomic(durable=True)
def logged_model_create(
    *,
    principal: Principal,
    experiment: Experiment,
    name: str | None = None,
    source_run: Run | None = None,
    model_type: str | None = None,
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
) -> LoggedModel:
    experiment = lock_experiment(principal, experiment)
    require_experiment(principal, experiment, "edit", action="create a logged model")
    check_experiment_active(experiment)
    name = validate_text(name or generate_run_name(), "name", MAX_LOGGED_MODEL_NAME_LENGTH)
    model_type = validate_text(model_type or "", "model_type", MAX_MODEL_TYPE_LENGTH)
    clean_tags = validate_tags(tags)
    clean_params = validate_tags(params, limit=MAX_PARAM_VAL_LENGTH)
    if source_run is not None and source_run.tenant_id != principal.tenant.pk:
        raise NotFound(f"Run with id={source_run.run_id} not found")
    model_id = f"m-{uuid.uuid4().hex}"
    ts = now_ms()
    logged_model = LoggedModel.objects.create(
        model_id=model_id,
        tenant=principal.tenant,
        experiment=experiment,
        name=name,
        source_run=source_run,
        model_type=model_type,
        artifact_uri=logged_model_artifact_uri(experiment, model_id),
        creation_timestamp=ts,
        last_updated_timestamp=ts,
    )
    LoggedModelTag.objects.bulk_create(
        [LoggedModelTag(logged_model=logged_model, key=k, value=v) for k, v in clean_tags.items()]
    )
    LoggedModelParam.objects.bulk_create(
        [LoggedModelParam(logged_model=logged_model, key=k, value=v) for k, v in clean_params.items()]
    )
    events.emit(
        tenant=principal.tenant,
        actor=actor(principal),
        action="logged_model.created",
        obj=logged_model,
        after={
            "model_id": model_id,
            "experiment_id": str(experiment.number),
            "name": name,
            "source_run_id": source_run.run_id if source_run else None,
        },
    )
    return logged_model


@transaction.atomic(durable=True)
def logged_model_finalize(*, principal: Principal, logged_model: LoggedModel, status: str) -> LoggedModel:
    logged_model = lock_logged_model(principal, logged_model)
    require_experiment(principal, logged_model.experiment, "edit", action="finalize the logged model")
    if status not in (LoggedModelStatus.READY, LoggedModelStatus.UPLOAD_FAILED):
        raise InvalidParameter(
            f"Invalid status '{status}': use LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED."
        )
    before = logged_model.status
    logged_model.status = status
    logged_model.last_updated_timestamp = now_ms()
    logged_model.save(update_fields=["status", "last_updated_timestamp"])
    events.emit(
        tenant=principal.tenant,
        actor=actor(principal),
        action="logged_model.finalized",
        obj=logged_model,
        before={"status": before},
        after={"status": status},
    )
    return logged_model


@transaction.atomic(durable=True)
def logged_model_set_tags(*, principal: Principal, logged_model: LoggedModel, tags: dict[str, str]) -> None:
    logged_model = lock_logged_model(principal, logged_model)
    require_experiment(principal, logged_model.experiment, "edit", action="set logged model tags")
    clean = validate_tags(tags)
    for key, value in clean.items():
        LoggedModelTag.objects.update_or_create(logged_model=logged_model, key=key, defaults={"value": value})
    logged_model.last_updated_timestamp = now_ms()
    logged_model.save(update_fields=["last_updated_timestamp"])
    events.emit(
        tenant=principal.tenant,
        actor=actor(principal),
        action="logged_model.tags_set",
        obj=logged_model,
        after={"tags": clean},
    )


@transaction.atomic(durable=True)
def logged_model_delete_tag(*, principal: Principal, logged_model: LoggedModel, key: str) -> None:
    logged_model = lock_logged_model(principal, logged_model)
    require_experiment(principal, logged_model.experiment, "edit", action="delete a logged model tag")
    deleted = delete_tag(LoggedModelTag.objects.filter(logged_model=logged_model), key)
    if not deleted:
        raise NotFound(f"No tag with key '{key}' on logged model '{logged_model.model_id}'.")
    events.emit(
        tenant=principal.tenant,
        actor=actor(principal),
        action="logged_model.tag_deleted",
        obj=logged_model,
        before={"key": key},
    )
