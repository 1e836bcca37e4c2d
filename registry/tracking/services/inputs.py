"""Run inputs (`runs/log-inputs`): the datasets a run used, with their input tags, and the logged models it used."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from config.errors import NotFound
from registry import events
from registry.permissions import require_experiment
from tenants.access import Principal

from ..entities import DatasetInputSpec
from ..models import Dataset, Experiment, LoggedModel, Run, RunInput, RunInputTag, RunModelInput
from ._common import actor, check_run_active, lock_run


def _audit_source(source: str) -> str:
    # The source says where the data came from, which is what an auditor asks; cap it so that a request of many
    # datasets with large sources cannot make one audit event megabytes long.
    return source if len(source) <= 2000 else source[:2000] + "…"


def _record_datasets(
    principal: Principal, run: Run, experiment: Experiment, specs: list[DatasetInputSpec]
) -> list[DatasetInputSpec]:
    """Link the datasets to the run; returns the inputs the run did not have yet."""
    # ON CONFLICT DO NOTHING: two runs of the experiment logging the same new dataset at once both end up with the
    # one row (the second insert waits for the first to commit, then skips), without an experiment lock that would
    # serialise all of the experiment's runs.
    Dataset.objects.bulk_create(
        [
            Dataset(
                tenant=principal.tenant,
                experiment=experiment,
                name=s.name,
                digest=s.digest,
                source_type=s.source_type,
                source=s.source,
                schema=s.schema,
                profile=s.profile,
            )
            for s in specs
        ],
        ignore_conflicts=True,
    )
    rows = Dataset.objects.for_tenant(principal.tenant).filter(
        experiment=experiment, name__in={s.name for s in specs}, digest__in={s.digest for s in specs}
    )
    found = {(d.name, d.digest): d for d in rows}
    # The run row is locked, so no other writer can add inputs to this run meanwhile.
    existing = set(
        RunInput.objects.filter(run=run, dataset__in=[found[(s.name, s.digest)] for s in specs]).values_list(
            "dataset_id", flat=True
        )
    )
    new_inputs = [s for s in specs if found[(s.name, s.digest)].pk not in existing]
    created = RunInput.objects.bulk_create(
        [RunInput(run=run, dataset=found[(s.name, s.digest)]) for s in new_inputs]
    )
    RunInputTag.objects.bulk_create(
        [
            RunInputTag(run_input=run_input, key=key, value=value)
            for run_input, s in zip(created, new_inputs, strict=True)
            for key, value in s.tags
        ]
    )
    return new_inputs


def _record_models(principal: Principal, run: Run, model_ids: list[str]) -> list[str]:
    """Link the logged models to the run; returns the ids the run did not have yet."""
    logged = {
        m.model_id: m
        for m in LoggedModel.objects.for_tenant(principal.tenant)
        .select_related("experiment")
        .filter(model_id__in=model_ids)
    }
    for model_id in model_ids:
        try:
            if model_id not in logged:
                raise NotFound("missing")
            require_experiment(principal, logged[model_id].experiment, "read", action="use the logged model")
        except NotFound as exc:  # a model the caller may not read answers like a missing one
            raise NotFound(f"Logged model with ID '{model_id}' not found.") from exc
    existing = set(
        RunModelInput.objects.filter(run=run, logged_model__in=logged.values()).values_list(
            "logged_model__model_id", flat=True
        )
    )
    new_models = [m for m in model_ids if m not in existing]
    RunModelInput.objects.bulk_create([RunModelInput(run=run, logged_model=logged[m]) for m in new_models])
    return new_models


@transaction.atomic(durable=True)
def run_log_inputs(
    *,
    principal: Principal,
    run: Run,
    datasets: list[DatasetInputSpec],
    models: list[str] | None = None,
) -> None:
    """Record the datasets (and logged models, by id) a run used.

    As in MLflow's SQL store: a dataset is one row per (experiment, name, digest), shared by every run of the
    experiment that logs it, and keeps the description it was first logged with; logging a dataset the run already
    has changes nothing (its first input tags stay). `registry.mlflow_api.payloads.parse_dataset_inputs` builds the
    specs from MLflow's JSON."""
    model_ids = models or []
    run = lock_run(principal, run)
    require_experiment(principal, run.experiment, "edit", action="log run inputs")
    check_run_active(run)
    if not datasets and not model_ids:
        return
    experiment = run.experiment
    new_inputs = _record_datasets(principal, run, experiment, datasets) if datasets else []
    new_models = _record_models(principal, run, model_ids) if model_ids else []
    if not new_inputs and not new_models:
        return  # everything was already recorded: nothing changed, nothing to audit
    after: dict[str, Any] = {"experiment_id": str(experiment.number)}
    if new_inputs:
        after["datasets"] = [
            {
                "name": s.name,
                "digest": s.digest,
                "source_type": s.source_type,
                "source": _audit_source(s.source),
                "context": s.context,
                "tags": dict(s.tags),
            }
            for s in new_inputs
        ]
    if new_models:
        after["models"] = new_models
    events.emit(
        tenant=principal.tenant, actor=actor(principal), action="run.inputs_logged", obj=run, after=after
    )
