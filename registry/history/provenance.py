""" "Everything about version N": one document with the version, who made it, the run it came from (params, data
version, code commit, metrics, tags, datasets, parent run), its manifest, every stage transition, alias move and
transition request, its audit events with the chain's state, and who has used it.

The number of queries is fixed: everything is fetched with select_related/prefetch_related or one query per kind
of row, never one per event, file or param."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from django.db.models import Prefetch

from registry import permissions, selectors, usage
from registry.models import ModelVersion, VersionUsage
from registry.tracking.models import DATASET_CONTEXT_TAG, Run, RunInput
from tenants.access import Principal

from . import events as history_events
from .events import iso

# Where a run records the data it was trained on and the code it ran (params first, then tags).
DATA_VERSION_KEYS = ("data_version", "dataset_version", "data.version", "mlflow.data.version")
CODE_KEYS = {
    "commit": ("mlflow.source.git.commit", "git_commit", "code_commit", "commit"),
    "source": ("mlflow.source.name",),
    "branch": ("mlflow.source.git.branch",),
    "repo_url": ("mlflow.source.git.repoURL",),
}
PARENT_RUN_TAG = "mlflow.parentRunId"


def _ms_iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return iso(dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=ms))


def _number(value: float) -> float | str:
    """JSON has no NaN or infinity: say them as strings, as MLflow's clients print them."""
    return value if math.isfinite(value) else str(value)


def _first(keys: tuple[str, ...], *sources: dict[str, str]) -> str | None:
    for source in sources:
        for key in keys:
            if source.get(key) not in (None, ""):
                return source[key]
    return None


def _load_version(principal: Principal, name: str, number: Any) -> ModelVersion:
    found = selectors.version_get(principal, name, number)  # tenant + read permission, 404 otherwise
    version = (
        ModelVersion.objects.select_related("created_by__service_account", "logged_model")
        .prefetch_related("tags", "aliases")
        .get(pk=found.pk)
    )
    version.model = found.model
    return version


def _load_run(tenant_id: int, pk: int | None) -> Run | None:
    if pk is None:
        return None
    inputs = RunInput.objects.select_related("dataset").prefetch_related("tags").order_by("pk")
    return (
        Run.objects.select_related("experiment", "user")
        .prefetch_related("params", "tags", "latest_metrics", Prefetch("dataset_inputs", queryset=inputs))
        .filter(pk=pk, tenant_id=tenant_id)
        .first()
    )


def _run_brief(run: Run) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "name": run.name,
        "experiment": {"id": str(run.experiment.number), "name": run.experiment.name},
        "user": run.user_label or (run.user.username if run.user else None),
        "status": run.status,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "started_at": _ms_iso(run.start_time),
        "ended_at": _ms_iso(run.end_time),
        "lifecycle_stage": run.lifecycle_stage,
    }


def _run_json(principal: Principal, run: Run | None) -> dict[str, Any] | None:
    """The source run; only its id when the caller may not read its experiment (experiments have their own
    permissions: reading a model does not open the runs behind it)."""
    if run is None:
        return None
    if not permissions.allows(principal, run.experiment, "read"):
        return {"run_id": run.run_id, "readable": False}
    params = {p.key: p.value for p in run.params.all()}
    tags = {t.key: t.value for t in run.tags.all()}
    datasets = []
    for run_input in run.dataset_inputs.all():
        input_tags = {t.key: t.value for t in run_input.tags.all()}
        dataset = run_input.dataset
        datasets.append(
            {
                "name": dataset.name,
                "digest": dataset.digest,
                "source_type": dataset.source_type,
                "source": dataset.source,
                "context": input_tags.get(DATASET_CONTEXT_TAG),
                "tags": input_tags,
            }
        )
    parent_id = tags.get(PARENT_RUN_TAG)
    parent = None
    if parent_id:
        row = (
            Run.objects.select_related("experiment", "user")
            .filter(tenant_id=run.tenant_id, run_id=parent_id)
            .first()
        )
        if row is None:
            parent = {"run_id": parent_id, "missing": True}
        elif permissions.allows(principal, row.experiment, "read"):
            parent = _run_brief(row)
        else:
            parent = {"run_id": parent_id, "readable": False}
    return {
        **_run_brief(run),
        "readable": True,
        "data_version": _first(DATA_VERSION_KEYS, params, tags),
        "code": {field: _first(keys, tags, params) for field, keys in CODE_KEYS.items()},
        "params": params,
        "metrics": {m.key: _number(m.value) for m in sorted(run.latest_metrics.all(), key=lambda m: m.key)},
        "metric_details": {
            m.key: {"value": _number(m.value), "step": m.step, "timestamp": m.timestamp}
            for m in run.latest_metrics.all()
        },
        "tags": tags,
        "datasets": datasets,
        "parent_run": parent,
    }


def _creator(version: ModelVersion) -> dict[str, Any]:
    user = version.created_by
    account = getattr(user, "service_account", None) if user is not None else None
    return {
        "username": user.username if user is not None else (version.user_label or None),
        "is_service_account": account is not None,
        "full_name": user.get_full_name() if user is not None else "",
    }


def usage_of(version: ModelVersion) -> dict[str, Any]:
    """Resolves and downloads per day and principal: flushed rows plus counters still in Redis."""
    model = version.model
    counts: dict[tuple[dt.date, str], list[int]] = {}
    rows = VersionUsage.objects.filter(tenant_id=model.tenant_id, model_id=model.pk, version=version.version)
    for day, who, resolves, downloads in rows.values_list("day", "principal", "resolves", "downloads"):
        counts[(day, who)] = [resolves, downloads]
    live = usage.pending(model.tenant_id, model.pk, version.version)
    for key, (resolves, downloads) in (live or {}).items():
        pair = counts.setdefault(key, [0, 0])
        pair[0] += resolves
        pair[1] += downloads
    days = [
        {"day": day.isoformat(), "principal": who, "resolves": r, "downloads": d}
        for (day, who), (r, d) in sorted(
            counts.items(), key=lambda item: (-item[0][0].toordinal(), item[0][1])
        )
    ]
    return {
        "days": days,
        "principals": sorted({who for _day, who in counts}),
        "resolves": sum(r for r, _d in counts.values()),
        "downloads": sum(d for _r, d in counts.values()),
        "pending_included": live is not None,
    }


def provenance(principal: Principal, name: str, number: Any) -> dict[str, Any]:
    """`GET models/<name>/versions/<v>/provenance`."""
    version = _load_version(principal, name, number)
    model = version.model
    logged = version.logged_model
    run = _load_run(
        model.tenant_id, version.source_run_id or (logged.source_run_id if logged is not None else None)
    )
    files = selectors.manifest(version)
    events = history_events.version_events(model, version.version)
    return {
        "name": model.name,
        "version": {
            "name": model.name,
            "version": str(version.version),
            "status": version.status,
            "status_message": version.status_message or None,
            "stage": version.stage,
            "description": version.description,
            "tags": {t.key: t.value for t in version.tags.all()},
            "aliases": selectors.version_aliases(version),
            "source": version.source,
            "run_id": version.run_id or None,
            "run_link": version.run_link or None,
            "created_at": _ms_iso(version.creation_timestamp),
            "created_by": _creator(version)["username"],
            "creation_timestamp": version.creation_timestamp,
            "last_updated_timestamp": version.last_updated_timestamp,
            "manifest_sha256": version.manifest_sha256 or None,
            "download_uri": selectors.download_uri(version),
        },
        "creator": _creator(version),
        "source_run": _run_json(principal, run),
        "logged_model": (
            {"model_id": logged.model_id, "name": logged.name, "status": logged.status}
            if logged is not None
            else None
        ),
        "logged_model_id": logged.model_id if logged is not None else None,
        "manifest": {
            "sha256": version.manifest_sha256 or None,
            "file_count": len(files),
            "total_size": sum(f["size"] for f in files),
            "files": files,
        },
        "stage_transitions": history_events.stage_transitions(events),
        "alias_moves": history_events.alias_moves(events),
        "transition_requests": history_events.transition_requests(events),
        "audit": {
            "events": [history_events.event_json(e) for e in events],
            "chain": history_events.chain_status(model.tenant, events),
        },
        "usage": usage_of(version),
    }
