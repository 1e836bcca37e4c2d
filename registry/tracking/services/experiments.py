"""Experiments: create (and each tenant's Default), rename, delete/restore, tags, grants."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from config.common import now_ms
from config.errors import AlreadyExists, InvalidParameter, NotFound
from registry import events
from registry.permissions import grants_of, parse_grants, replace_grants, require_experiment, require_writer
from tenants.access import Principal
from tenants.models import Tenant

from ..models import Experiment, ExperimentTag, Run
from ..validation import (
    MAX_EXPERIMENT_TAG_VAL_LENGTH,
    validate_experiment_name,
    validate_key,
    validate_tags,
    validate_text,
)
from ._common import (
    actor,
    check_experiment_active,
    delete_tag,
    experiment_artifact_location,
    lock_experiment,
)

DEFAULT_EXPERIMENT_NAME = "Default"


def experiment_create_default(*, tenant: Tenant) -> Experiment:
    """Experiment "0", named Default, exists in every tenant (the MLflow client uses it without a lookup). Runs
    inside the caller's transaction (creating the tenant)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("experiment_create_default must run inside the tenant's creation transaction")
    ts = now_ms()
    experiment, created = Experiment.objects.get_or_create(
        tenant=tenant,
        number=0,
        defaults={
            "name": DEFAULT_EXPERIMENT_NAME,
            "artifact_location": experiment_artifact_location(0),
            "creation_time": ts,
            "last_update_time": ts,
        },
    )
    if created:
        events.emit(
            tenant=tenant,
            actor=None,
            action="experiment.created",
            obj=experiment,
            after={"experiment_id": "0", "name": DEFAULT_EXPERIMENT_NAME},
        )
    return experiment


@transaction.atomic(durable=True)
def experiment_create(
    *,
    principal: Principal,
    name: str,
    tags: dict[str, str] | None = None,
    artifact_location: str | None = None,
) -> Experiment:
    """Create an experiment; its number is the tenant's next (allocated under the Tenant row lock, never MAX()+1).

    A client-chosen `artifact_location` is ignored: artifacts always live in the tenant's own store, under
    `mlflow-artifacts:/<number>`, so a location can never point at another tenant's files or another server."""
    require_writer(principal, action="create an experiment")
    name = validate_experiment_name(name)
    clean_tags = validate_tags(tags, limit=MAX_EXPERIMENT_TAG_VAL_LENGTH)
    tenant = Tenant.objects.select_for_update().get(pk=principal.tenant.pk)
    existing = Experiment.objects.for_tenant(tenant).filter(name=name).first()
    if existing is not None:
        state = " (deleted)" if existing.lifecycle_stage == "deleted" else ""
        raise AlreadyExists(f"Experiment(name={name}) already exists{state}.")
    tenant.last_experiment_number += 1
    tenant.save(update_fields=["last_experiment_number"])
    number = tenant.last_experiment_number
    team = principal.default_team()
    ts = now_ms()
    try:
        with transaction.atomic():
            experiment = Experiment.objects.create(
                tenant=tenant,
                number=number,
                name=name,
                artifact_location=experiment_artifact_location(number),
                owner_team=team,
                created_by=actor(principal),
                creation_time=ts,
                last_update_time=ts,
            )
    except IntegrityError as exc:
        raise AlreadyExists(f"Experiment(name={name}) already exists.") from exc
    ExperimentTag.objects.bulk_create(
        [ExperimentTag(experiment=experiment, key=k, value=v) for k, v in clean_tags.items()]
    )
    if team is None and actor(principal) is not None:
        # No team to own it: the creator gets manage (MLflow's rule), or they could not use their own experiment.
        replace_grants(experiment, [("user", principal.user, "manage")])
    events.emit(
        tenant=tenant,
        actor=actor(principal),
        action="experiment.created",
        obj=experiment,
        after={
            "experiment_id": str(number),
            "name": name,
            "owner_team": team.slug if team else None,
            "tags": clean_tags,
        },
    )
    return experiment


@transaction.atomic(durable=True)
def experiment_rename(*, principal: Principal, experiment: Experiment, new_name: str) -> Experiment:
    experiment = lock_experiment(principal, experiment)
    require_experiment(principal, experiment, "edit", action="rename the experiment", scratch=False)
    new_name = validate_experiment_name(new_name)
    check_experiment_active(experiment)
    if new_name == experiment.name:
        return experiment
    if Experiment.objects.for_tenant(principal.tenant).filter(name=new_name).exists():
        raise AlreadyExists(f"Experiment(name={new_name}) already exists.")
    before = experiment.name
    experiment.name = new_name
    experiment.last_update_time = now_ms()
    try:
        with transaction.atomic():
            experiment.save(update_fields=["name", "last_update_time"])
    except IntegrityError as exc:
        raise AlreadyExists(f"Experiment(name={new_name}) already exists.") from exc
    events.emit(
        tenant=principal.tenant,
        actor=actor(principal),
        action="experiment.renamed",
        obj=experiment,
        before={"name": before},
        after={"name": new_name},
    )
    return experiment


def _set_experiment_stage(
    principal: Principal, experiment: Experiment, stage: str, action: str
) -> Experiment:
    experiment = lock_experiment(principal, experiment)
    require_experiment(principal, experiment, "manage", action=f"{action} the experiment", scratch=False)
    if experiment.number == 0 and stage == "deleted":
        raise InvalidParameter(
            "Cannot delete the default experiment '0'. This is an internally reserved experiment."
        )
    if experiment.lifecycle_stage == stage:
        state = "deleted" if stage == "deleted" else "active"
        raise InvalidParameter(f"Cannot {action} experiment {experiment.number}: it is already {state}.")
    ts = now_ms()
    before = experiment.lifecycle_stage
    experiment.lifecycle_stage = stage
    experiment.last_update_time = ts
    experiment.save(update_fields=["lifecycle_stage", "last_update_time"])
    # As in MLflow: deleting an experiment deletes its runs; restoring restores them.
    runs = Run.objects.for_tenant(principal.tenant).filter(experiment=experiment, lifecycle_stage=before)
    runs.update(lifecycle_stage=stage, deleted_time=ts if stage == "deleted" else None)
    events.emit(
        tenant=principal.tenant,
        actor=actor(principal),
        action=f"experiment.{action}d",
        obj=experiment,
        before={"lifecycle_stage": before},
        after={"lifecycle_stage": stage},
    )
    return experiment


@transaction.atomic(durable=True)
def experiment_delete(*, principal: Principal, experiment: Experiment) -> Experiment:
    return _set_experiment_stage(principal, experiment, "deleted", "delete")


@transaction.atomic(durable=True)
def experiment_restore(*, principal: Principal, experiment: Experiment) -> Experiment:
    return _set_experiment_stage(principal, experiment, "active", "restore")


@transaction.atomic(durable=True)
def experiment_set_tag(*, principal: Principal, experiment: Experiment, key: str, value: str) -> None:
    experiment = lock_experiment(principal, experiment)
    require_experiment(principal, experiment, "edit", action="set an experiment tag", scratch=False)
    check_experiment_active(experiment)
    key = validate_key(key)
    value = validate_text(value, "value", MAX_EXPERIMENT_TAG_VAL_LENGTH)
    ExperimentTag.objects.update_or_create(experiment=experiment, key=key, defaults={"value": value})
    events.emit(
        tenant=principal.tenant,
        actor=actor(principal),
        action="experiment.tag_set",
        obj=experiment,
        after={"key": key, "value": value},
    )


@transaction.atomic(durable=True)
def experiment_delete_tag(*, principal: Principal, experiment: Experiment, key: str) -> None:
    experiment = lock_experiment(principal, experiment)
    require_experiment(principal, experiment, "edit", action="delete an experiment tag", scratch=False)
    deleted = delete_tag(ExperimentTag.objects.filter(experiment=experiment), key)
    if not deleted:
        raise NotFound(f"No tag with name: {key} in experiment {experiment.number}.")
    events.emit(
        tenant=principal.tenant,
        actor=actor(principal),
        action="experiment.tag_deleted",
        obj=experiment,
        before={"key": key},
    )


@transaction.atomic(durable=True)
def experiment_set_grants(*, principal: Principal, experiment: Experiment, grants: list[dict]) -> list[dict]:
    experiment = lock_experiment(principal, experiment)
    require_experiment(principal, experiment, "manage", action="change permissions", scratch=False)
    parsed = parse_grants(principal.tenant, grants)
    before = grants_of(experiment)
    replace_grants(experiment, parsed)
    after = grants_of(experiment)
    events.emit(
        tenant=principal.tenant,
        actor=actor(principal),
        action="experiment.grants_replaced",
        obj=experiment,
        before={"grants": before},
        after={"grants": after},
    )
    return after
