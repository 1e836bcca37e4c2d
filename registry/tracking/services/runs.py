"""Runs: create, update, delete/restore, and the logged models a run produced (`runs/outputs`)."""

from __future__ import annotations

import random
import uuid
from typing import Any

from django.db import transaction

from config.common import now_ms
from config.errors import NotFound
from registry import events
from registry.permissions import require_experiment
from tenants.access import Principal

from ..entities import ModelOutput
from ..models import Experiment, LoggedModel, Run, RunOutput, RunTag
from ..validation import MAX_RUN_NAME_LENGTH, validate_name, validate_run_status, validate_tags
from ._common import (
    actor,
    check_experiment_active,
    check_run_active,
    lock_experiment,
    lock_run,
    run_artifact_uri,
    username,
)

USER_TAG = "mlflow.user"
RUN_NAME_TAG = "mlflow.runName"

_ADJECTIVES = (
    "amazing",
    "bold",
    "bright",
    "calm",
    "clever",
    "crisp",
    "eager",
    "gentle",
    "keen",
    "lucky",
    "merry",
    "quiet",
    "rare",
    "sharp",
    "swift",
    "tidy",
    "vivid",
    "wise",
)
_NOUNS = (
    "ant",
    "bat",
    "bear",
    "cat",
    "crow",
    "deer",
    "fox",
    "hare",
    "hawk",
    "lark",
    "lynx",
    "mole",
    "owl",
    "seal",
    "swan",
    "toad",
    "wolf",
    "yak",
)


def generate_run_name() -> str:
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(100, 999)}"


def _run_snapshot(run: Run) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "status": run.status,
        "lifecycle_stage": run.lifecycle_stage,
        "name": run.name,
    }


@transaction.atomic(durable=True)
def run_create(
    *,
    principal: Principal,
    experiment: Experiment,
    run_name: str | None = None,
    start_time: int | None = None,
    tags: dict[str, str] | None = None,
) -> Run:
    """Start a run. Its user (and the `mlflow.user` tag) is the authenticated principal, whatever the client sent."""
    experiment = lock_experiment(principal, experiment)
    require_experiment(principal, experiment, "edit", action="create a run")
    check_experiment_active(experiment)
    clean_tags = validate_tags(tags)
    name = run_name if run_name not in (None, "") else clean_tags.get(RUN_NAME_TAG) or generate_run_name()
    name = validate_name(name, "run_name", MAX_RUN_NAME_LENGTH)
    user_label = username(principal)
    clean_tags[USER_TAG] = user_label
    clean_tags[RUN_NAME_TAG] = name
    run_id = uuid.uuid4().hex
    run = Run.objects.create(
        run_id=run_id,
        tenant=principal.tenant,
        experiment=experiment,
        name=name,
        user=actor(principal),
        user_label=user_label,
        status="RUNNING",
        start_time=start_time if start_time is not None else now_ms(),
        artifact_uri=run_artifact_uri(experiment, run_id),
    )
    RunTag.objects.bulk_create([RunTag(run=run, key=k, value=v) for k, v in clean_tags.items()])
    events.emit(
        tenant=principal.tenant,
        actor=actor(principal),
        action="run.created",
        obj=run,
        after={"run_id": run_id, "experiment_id": str(experiment.number), "name": name},
    )
    return run


@transaction.atomic(durable=True)
def run_update(
    *,
    principal: Principal,
    run: Run,
    status: str | None = None,
    end_time: int | None = None,
    run_name: str | None = None,
) -> Run:
    run = lock_run(principal, run)
    require_experiment(principal, run.experiment, "edit", action="update the run")
    check_run_active(run)
    before = _run_snapshot(run)
    fields = []
    if status:
        run.status = validate_run_status(status)
        fields.append("status")
    if end_time is not None:
        run.end_time = end_time
        fields.append("end_time")
    if run_name:
        run.name = validate_name(run_name, "run_name", MAX_RUN_NAME_LENGTH)
        fields.append("name")
        RunTag.objects.update_or_create(run=run, key=RUN_NAME_TAG, defaults={"value": run.name})
    if fields:
        run.save(update_fields=fields)
        events.emit(
            tenant=principal.tenant,
            actor=actor(principal),
            action="run.updated",
            obj=run,
            before=before,
            after=_run_snapshot(run),
        )
    return run


def _set_run_stage(principal: Principal, run: Run, stage: str, action: str) -> Run:
    run = lock_run(principal, run)
    # Edit, not manage: (soft) deleting a run is routine curation of experiment data, restorable and audited, and
    # ordinary tokens (read, write, promote) must be able to do it; deleting the experiment itself needs manage.
    require_experiment(principal, run.experiment, "edit", action=f"{action} the run")
    if stage == "active":
        check_experiment_active(run.experiment)
    before = _run_snapshot(run)
    if run.lifecycle_stage != stage:
        run.lifecycle_stage = stage
        run.deleted_time = now_ms() if stage == "deleted" else None
        run.save(update_fields=["lifecycle_stage", "deleted_time"])
        events.emit(
            tenant=principal.tenant,
            actor=actor(principal),
            action=f"run.{action}d",
            obj=run,
            before=before,
            after=_run_snapshot(run),
        )
    return run


@transaction.atomic(durable=True)
def run_delete(*, principal: Principal, run: Run) -> Run:
    return _set_run_stage(principal, run, "deleted", "delete")


@transaction.atomic(durable=True)
def run_restore(*, principal: Principal, run: Run) -> Run:
    return _set_run_stage(principal, run, "active", "restore")


@transaction.atomic(durable=True)
def run_log_outputs(*, principal: Principal, run: Run, models: list[ModelOutput]) -> None:
    """Record logged models as outputs of a run (`runs/outputs`); a model named twice keeps its last step."""
    run = lock_run(principal, run)
    require_experiment(principal, run.experiment, "edit", action="log run outputs")
    check_run_active(run)
    ids = [m.model_id for m in models]
    found = {m.model_id: m for m in LoggedModel.objects.for_tenant(principal.tenant).filter(model_id__in=ids)}
    missing = [mid for mid in ids if mid not in found]
    if missing:
        raise NotFound(f"Logged model with ID '{missing[0]}' not found.")
    existing = set(
        RunOutput.objects.filter(run=run, logged_model__in=found.values()).values_list(
            "logged_model__model_id", flat=True
        )
    )
    steps = {m.model_id: m.step for m in models}
    RunOutput.objects.bulk_create(
        [
            RunOutput(run=run, logged_model=found[mid], step=step)
            for mid, step in steps.items()
            if mid not in existing
        ]
    )
    events.emit(
        tenant=principal.tenant,
        actor=actor(principal),
        action="run.outputs_logged",
        obj=run,
        after={"models": [{"model_id": m.model_id, "step": m.step} for m in models]},
    )
