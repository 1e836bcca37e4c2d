"""Where a new version's files come from: a version's `source` mapped to a tenant-relative artifact path and its
provenance (run, logged model), all in the caller's tenant."""

from __future__ import annotations

import logging

from django.db import connection

from config import sqlrows
from config.errors import InvalidParameter
from config.validation import ascii_digits, is_storable
from registry.permissions import allows
from tenants.access import Principal

logger = logging.getLogger(__name__)


def _artifact_path_from_uri(uri: str) -> str | None:
    """`mlflow-artifacts:/1/abc/artifacts` → `1/abc/artifacts`; a URI with a host or another scheme → None."""
    prefix = "mlflow-artifacts:"
    if not uri.startswith(prefix):
        return None
    rest = uri[len(prefix) :]
    if rest.startswith("//"):
        return None  # `mlflow-artifacts://host/…` points at another server
    return rest.lstrip("/")


def _clean_relative_path(path: str) -> str | None:
    path = path.strip("/")
    if "\x00" in path or len(path) > 1024 or "\\" in path:
        return None
    parts = path.split("/") if path else []
    if any(p in ("", ".", "..") for p in parts):
        return None
    return path


def _run_with_experiment(tenant_id: int, run_id: str):
    """The tenant's run `run_id` with its experiment, carrying only what registration and the experiment's
    permission check read (the other columns deferred): one plain-SQL statement, because compiling the ORM's
    select_related of both full rows was the largest share of a version creation's own CPU (issue 9)."""
    from registry.tracking.models import Experiment, Run

    if not is_storable(run_id):
        return None
    run_fields = sqlrows.fields_of(Run, _RUN_COLUMNS)
    exp_fields = sqlrows.fields_of(Experiment, _EXPERIMENT_COLUMNS)
    qn = sqlrows.qn
    sql = (
        f"SELECT {sqlrows.select_list(Run, run_fields, 'r')}, {sqlrows.select_list(Experiment, exp_fields, 'e')} "
        f"FROM {qn(Run._meta.db_table)} r JOIN {qn(Experiment._meta.db_table)} e ON e.{qn('id')} = r.{qn('experiment_id')} "
        f"WHERE r.{qn('tenant_id')} = %s AND r.{qn('run_id')} = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [tenant_id, run_id])
        row = cursor.fetchone()
    if row is None:
        return None
    run = sqlrows.instance(Run, run_fields, row[: len(run_fields)])
    run.experiment = sqlrows.instance(Experiment, exp_fields, row[len(run_fields) :])
    return run


# What `resolve_source` and `model_version_create` read of a run, and the permission check of an experiment.
_RUN_COLUMNS = {"id", "run_id", "tenant_id", "experiment_id", "artifact_uri"}
_EXPERIMENT_COLUMNS = {"id", "tenant_id", "number", "owner_team_id"}


def resolve_source(principal: Principal, source: str, run_id: str | None, model_id: str | None):
    """Map a version's source to a tenant-relative artifact path and its provenance (run, logged model).

    Everything is looked up in the caller's tenant and must be readable by the caller; anything else (another
    tenant's object, a foreign scheme, a path escaping the tree) is the same 400, so nothing leaks."""
    from registry.tracking.models import Experiment, LoggedModel, LoggedModelStatus, Run

    tenant = principal.tenant
    bad = InvalidParameter(
        f"Invalid model version source: '{source}'. Use models:/m-<id>, runs:/<run_id>/<path> "
        f"or mlflow-artifacts:/<path> of an artifact in this tenant."
    )

    def readable_experiment(experiment) -> bool:
        return allows(principal, experiment, "read")

    run = None
    logged_model = None
    if source.startswith("models:/m-"):
        mid = source[len("models:/") :].strip("/")
        if model_id and str(model_id) != mid:
            raise InvalidParameter(f"'model_id' {model_id} does not match the source '{source}'.")
        logged_model = (
            LoggedModel.objects.select_related("experiment", "source_run")
            .for_tenant(tenant)
            .filter(model_id=mid)
            .first()
        )
        if logged_model is None or not readable_experiment(logged_model.experiment):
            raise bad
        if logged_model.status == LoggedModelStatus.UPLOAD_FAILED:
            raise InvalidParameter(f"Logged model '{mid}' failed to upload; it cannot be registered.")
        source_path = _artifact_path_from_uri(logged_model.artifact_uri)
        if source_path is None:
            raise bad
        run = logged_model.source_run
    elif source.startswith("runs:/"):
        rest = source[len("runs:/") :].lstrip("/")
        rid, _, sub = rest.partition("/")
        run = _run_with_experiment(tenant.pk, rid)
        sub_path = _clean_relative_path(sub)
        if run is None or sub_path is None or not readable_experiment(run.experiment):
            raise bad
        root = _artifact_path_from_uri(run.artifact_uri)
        if root is None:
            raise bad
        source_path = f"{root}/{sub_path}" if sub_path else root
    elif source.startswith("mlflow-artifacts:"):
        path = _artifact_path_from_uri(source)
        source_path = _clean_relative_path(path) if path is not None else None
        if not source_path:
            raise bad
        # The tree's first segment is the experiment number: the caller must be able to read that experiment.
        first = source_path.split("/", 1)[0]
        experiment = (
            Experiment.objects.for_tenant(tenant).filter(number=int(first)).first()
            if ascii_digits(first) and len(first) < 19
            else None
        )
        if experiment is None or not readable_experiment(experiment):
            raise bad
    else:
        raise bad

    if run_id and not (run is not None and run.run_id == str(run_id)):  # `runs:/<run_id>/…` found it already
        given = (
            Run.objects.for_tenant(tenant).filter(run_id=str(run_id)).first()
            if is_storable(str(run_id))
            else None
        )
        if given is None:
            raise InvalidParameter(f"Run with id={run_id} not found")
        run = given
    return source_path.rstrip("/"), run, logged_model
