"""What every tracking service shares: the actor to audit, row locks, lifecycle checks, artifact URIs.

Locking order (fixed): Tenant row (experiment numbers, storage quota) → Experiment row → Run / LoggedModel row →
the audit chain head (taken by `events.emit`). Logging params or tags to a run locks the run row, which serialises
concurrent writers of that run so the "params are immutable" check is race-free; other runs are not blocked.
Metric-only batches take no lock: their statements are race-free on their own (`_metric_sql`)."""

from __future__ import annotations

from django.db.models import QuerySet

from config.errors import InvalidParameter, NotFound
from config.validation import is_storable
from tenants.access import Principal

from ..models import Experiment, LoggedModel, Run


def actor(principal: Principal):
    """The user to record as the actor (None for a principal without a saved user)."""
    return principal.user if getattr(principal.user, "pk", None) else None


def username(principal: Principal) -> str:
    return getattr(principal.user, "username", "") or ""


def experiment_artifact_location(number: int) -> str:
    # Host-less `mlflow-artifacts:/` so the client resolves it against the prefixed tracking URI.
    return f"mlflow-artifacts:/{number}"


def run_artifact_uri(experiment: Experiment, run_id: str) -> str:
    return f"{experiment.artifact_location}/{run_id}/artifacts"


def logged_model_artifact_uri(experiment: Experiment, model_id: str) -> str:
    return f"{experiment.artifact_location}/models/{model_id}/artifacts"


def lock_experiment(principal: Principal, experiment: Experiment) -> Experiment:
    locked = (
        Experiment.objects.for_tenant(principal.tenant)
        .select_for_update(of=("self",))
        .filter(pk=experiment.pk)
        .first()
    )
    if locked is None:
        raise NotFound(f"No Experiment with id={experiment.number} exists")
    return locked


def lock_run(principal: Principal, run: Run) -> Run:
    """Lock the run row (in the caller's tenant), with its experiment loaded for the permission check."""
    locked = (
        Run.objects.for_tenant(principal.tenant)
        .select_for_update(of=("self",))
        .select_related("experiment")
        .filter(pk=run.pk)
        .first()
    )
    if locked is None:
        raise NotFound(f"Run with id={run.run_id} not found")
    return locked


def lock_logged_model(principal: Principal, logged_model: LoggedModel) -> LoggedModel:
    locked = (
        LoggedModel.objects.for_tenant(principal.tenant)
        .select_for_update(of=("self",))
        .select_related("experiment")
        .filter(pk=logged_model.pk)
        .first()
    )
    if locked is None:
        raise NotFound(f"Logged model with ID '{logged_model.model_id}' not found.")
    return locked


def delete_tag(queryset: QuerySet, key: str) -> int:
    """Delete the tag rows matching `key`; a key PostgreSQL cannot hold matches nothing."""
    if not is_storable(key):
        return 0
    deleted, _ = queryset.filter(key=key).delete()
    return deleted


def check_run_active(run: Run) -> None:
    if run.lifecycle_stage != "active":
        raise InvalidParameter(
            f"The run {run.run_id} must be in the 'active' state. Current state is {run.lifecycle_stage}."
        )


def check_experiment_active(experiment: Experiment) -> None:
    if experiment.lifecycle_stage != "active":
        raise InvalidParameter(
            f"The experiment {experiment.number} must be in the 'active' state. Current state is "
            f"{experiment.lifecycle_stage}."
        )
