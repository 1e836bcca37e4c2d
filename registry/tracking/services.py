"""Writes for experiment tracking: experiments, runs (params, metrics, tags, outputs), logged models, the artifact
index and experiment grants.

Every public function is one durable transaction that checks the caller's permission itself (experiments use the
registry's levels; runs and logged models inherit from their experiment), locks what it changes, validates, writes
with `update_fields` or bulk inserts, and appends the audit event last.

Locking order (fixed): Tenant row (experiment numbers, storage quota) → Experiment row → Run / LoggedModel row →
the audit chain head (taken by `events.emit`). Logging to a run locks the run row, which serialises concurrent
writers of that run so the LatestMetric rows and the "params are immutable" check are race-free; other runs are
not blocked.

MLflow's limits (mlflow/utils/validation.py, 3.17.2) are applied as MLflow applies them, with its messages where the
client branches on them."""

from __future__ import annotations

import math
import posixpath
import random
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from config.errors import AlreadyExists, InvalidParameter, NotFound, PermissionDenied, QuotaExceeded
from config.validation import ascii_digits
from registry import events
from registry.permissions import grants_of, parse_grants, replace_grants, require
from tenants.access import Principal
from tenants.models import Tenant

DEFAULT_EXPERIMENT_NAME = "Default"

MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
MAX_ENTITIES_PER_BATCH = 1000
MAX_PARAM_VAL_LENGTH = 6000
MAX_TAG_VAL_LENGTH = 8000
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_EXPERIMENT_TAG_VAL_LENGTH = 20000
MAX_ENTITY_KEY_LENGTH = 250
MAX_RUN_NAME_LENGTH = 250
MAX_LOGGED_MODEL_NAME_LENGTH = 500
MAX_DATASETS_PER_BATCH = 1000
MAX_DATASET_NAME_SIZE = 500
MAX_DATASET_DIGEST_SIZE = 36
# MLflow does not validate source_type; its column is 36 wide, so a longer one is a 500 there and a 400 here.
MAX_DATASET_SOURCE_TYPE_SIZE = 36
MAX_DATASET_SOURCE_SIZE = 65535
MAX_DATASET_SCHEMA_SIZE = 1048575
MAX_DATASET_PROFILE_SIZE = 16777215
MAX_INPUT_TAG_KEY_SIZE = 255
MAX_INPUT_TAG_VALUE_SIZE = 500

_NAME_RE = re.compile(r"^[/\w.\- :]*$")  # MLflow's rule for param, metric and tag names
_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_MODEL_ID_RE = re.compile(r"^m-[0-9a-f]{32}$")
RUN_STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")
USER_TAG = "mlflow.user"
RUN_NAME_TAG = "mlflow.runName"


def now_ms() -> int:
    return int(time.time() * 1000)


def experiment_artifact_location(number: int) -> str:
    # Host-less `mlflow-artifacts:/` so the client resolves it against the prefixed tracking URI.
    return f"mlflow-artifacts:/{number}"


def run_artifact_uri(experiment, run_id: str) -> str:
    return f"{experiment.artifact_location}/{run_id}/artifacts"


def logged_model_artifact_uri(experiment, model_id: str) -> str:
    return f"{experiment.artifact_location}/models/{model_id}/artifacts"


# --- validation ------------------------------------------------------------------------------------------------


def _path_not_unique(name: str) -> bool:
    norm = posixpath.normpath(name)
    return norm != name or norm == "." or norm.startswith("..") or norm.startswith("/")


def validate_key(key: Any, what: str = "key") -> str:
    """MLflow's rule for param, metric and tag names."""
    if key is None or key == "":
        raise InvalidParameter(
            f"Missing value for required parameter '{what}'. See the API docs for more "
            f"information about request parameters."
        )
    if not isinstance(key, str):
        raise InvalidParameter(f"Invalid value {key!r} for parameter '{what}': expected a string.")
    if not _NAME_RE.match(key):
        raise InvalidParameter(
            f"Invalid value '{key}' for parameter '{what}' supplied: Names may only contain alphanumerics, "
            f"underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/)."
        )
    if _path_not_unique(key):
        raise InvalidParameter(
            f"Invalid value '{key}' for parameter '{what}' supplied: Names may be treated as files in certain "
            f"cases, and must not resolve to other names when treated as such. This name would resolve to "
            f"'{posixpath.normpath(key)}'"
        )
    if len(key) > MAX_ENTITY_KEY_LENGTH:
        raise InvalidParameter(f"'{what}' exceeds the maximum length of {MAX_ENTITY_KEY_LENGTH} characters.")
    return key


def _string_value(value: Any, what: str, limit: int) -> str:
    if value is None:
        raise InvalidParameter(f"Missing value for required parameter '{what}'.")
    if isinstance(value, bool):
        value = "true" if value else "false"
    if isinstance(value, (int, float)):
        value = str(value)
    if not isinstance(value, str):
        raise InvalidParameter(f"Invalid value {value!r} for parameter '{what}': expected a string.")
    if "\x00" in value:
        raise InvalidParameter(f"Invalid value for parameter '{what}': NUL characters are not allowed.")
    if len(value) > limit:
        raise InvalidParameter(
            f"'{what}' exceeds the maximum length of {limit} characters (got {len(value)})."
        )
    return value


def parse_double(value: Any, what: str = "value") -> float:
    """A metric value: a JSON number, or MLflow's strings for NaN and ±inf."""
    if isinstance(value, bool) or value is None:
        raise InvalidParameter(f"Missing or invalid value for parameter '{what}': expected a number.")
    if isinstance(value, float):
        return value
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:  # a 400-digit integer literal: no double holds it
            raise InvalidParameter(
                f"Invalid value for parameter '{what}': the integer is out of range for a double."
            ) from None
    if isinstance(value, str):
        text = value.strip()
        special = {
            "nan": math.nan,
            "infinity": math.inf,
            "-infinity": -math.inf,
            "inf": math.inf,
            "-inf": -math.inf,
            "+infinity": math.inf,
        }
        if text.lower() in special:
            return special[text.lower()]
        try:
            return float(text)
        except ValueError:
            pass
    raise InvalidParameter(f"Invalid value {value!r} for parameter '{what}': expected a number.")


def parse_int(value: Any, what: str, *, default: int | None = None) -> int:
    if value is None or value == "":
        if default is None:
            raise InvalidParameter(f"Missing value for required parameter '{what}'.")
        return default
    if isinstance(value, bool):
        raise InvalidParameter(f"Invalid value {value!r} for parameter '{what}': expected an integer.")
    try:
        number = int(value) if not isinstance(value, float) else (int(value) if value.is_integer() else None)
    except (TypeError, ValueError):
        number = None
    if number is None or not (-(2**63) <= number < 2**63):
        raise InvalidParameter(f"Invalid value {value!r} for parameter '{what}': expected an integer.")
    return number


def validate_experiment_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameter(
            "Invalid experiment name: '" + str(name or "") + "'. Experiment name cannot be empty."
        )
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise InvalidParameter(f"Experiment name exceeds the maximum length of {MAX_EXPERIMENT_NAME_LENGTH}.")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InvalidParameter(f"Invalid experiment name {name!r}: control characters are not allowed.")
    return name


def _tags_dict(tags: Any, *, limit: int = MAX_TAG_VAL_LENGTH) -> dict[str, str]:
    """`[{"key", "value"}]` (MLflow) or a dict → validated `{key: value}` (last one wins, as in MLflow)."""
    if tags is None:
        return {}
    items: Iterable
    if isinstance(tags, dict):
        items = tags.items()
    elif isinstance(tags, list):
        items = []
        for index, tag in enumerate(tags):
            if not isinstance(tag, dict):
                raise InvalidParameter(f"tags[{index}] must be an object with 'key' and 'value'.")
            items.append((tag.get("key"), tag.get("value", "")))
    else:
        raise InvalidParameter("'tags' must be a list of {key, value} objects.")
    result: dict[str, str] = {}
    for key, value in items:
        key = validate_key(key)
        result[key] = _string_value("" if value is None else value, "value", limit)
    return result


# --- principals and helpers -------------------------------------------------------------------------------------


def _actor(principal: Principal):
    return principal.user if getattr(principal.user, "pk", None) else None


def _username(principal: Principal) -> str:
    return getattr(principal.user, "username", "") or ""


def require_experiment(
    principal: Principal, experiment, level: str, *, action: str = "", scratch: bool = True
) -> str:
    """The experiment gatekeeper (runs and logged models inherit from their experiment): the registry's levels,
    plus one rule of our own: experiment "0" (Default) is the tenant's shared scratch space, which every member
    reads and every non-viewer logs to (`mlflow.start_run()` with no experiment set uses it without asking).
    `scratch=False` (renaming, tagging, deleting Default itself) leaves only the registry's levels."""
    if experiment.number == 0 and experiment.tenant_id == principal.tenant.pk:
        if level == "read" or (scratch and level == "edit"):
            if level == "edit" and principal.is_viewer:
                raise PermissionDenied(f"Permission denied to {action or 'write'}: viewers only read.")
            principal.require_scope("read" if level == "read" else "write")
            return level
        try:
            return require(principal, experiment, level, action=action)
        except NotFound as exc:  # every member can see Default, so this is a refusal, not a missing object
            raise PermissionDenied(
                f"Permission denied to {action or 'change'} the Default experiment."
            ) from exc
    return require(principal, experiment, level, action=action)


def _require_writer(principal: Principal, what: str) -> None:
    if principal.is_viewer:
        raise PermissionDenied(f"Permission denied to {what}: viewers only read.")
    principal.require_scope("write")


def _lock_experiment(principal: Principal, experiment):
    from .models import Experiment

    locked = (
        Experiment.objects.select_for_update(of=("self",))
        .filter(pk=experiment.pk, tenant=principal.tenant)
        .first()
    )
    if locked is None:
        raise NotFound(f"No Experiment with id={experiment.number} exists")
    return locked


def _lock_run(principal: Principal, run):
    """Lock the run row (in the caller's tenant), with its experiment loaded for the permission check."""
    from .models import Run

    locked = (
        Run.objects.select_for_update(of=("self",))
        .select_related("experiment")
        .filter(pk=run.pk, tenant=principal.tenant)
        .first()
    )
    if locked is None:
        raise NotFound(f"Run with id={run.run_id} not found")
    return locked


def _delete_tag(queryset, key: Any) -> int:
    """Delete the tag rows matching `key`; a key PostgreSQL cannot hold (NUL) matches nothing."""
    if not isinstance(key, str) or "\x00" in key:
        return 0
    deleted, _ = queryset.filter(key=key).delete()
    return deleted


def _check_run_active(run) -> None:
    if run.lifecycle_stage != "active":
        raise InvalidParameter(
            f"The run {run.run_id} must be in the 'active' state. Current state is {run.lifecycle_stage}."
        )


def _check_experiment_active(experiment) -> None:
    if experiment.lifecycle_stage != "active":
        raise InvalidParameter(
            f"The experiment {experiment.number} must be in the 'active' state. Current state is "
            f"{experiment.lifecycle_stage}."
        )


# --- experiments -------------------------------------------------------------------------------------------------


def experiment_create_default(*, tenant: Tenant):
    """Experiment "0", named Default, exists in every tenant (the MLflow client uses it without a lookup)."""
    from .models import Experiment

    assert transaction.get_connection().in_atomic_block
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
    *, principal: Principal, name: str, tags: Any = None, artifact_location: str | None = None
):
    """Create an experiment; its number is the tenant's next (allocated under the Tenant row lock, never MAX()+1).

    A client-chosen `artifact_location` is ignored: artifacts always live in the tenant's own store, under
    `mlflow-artifacts:/<number>`, so a location can never point at another tenant's files or another server."""
    from .models import Experiment, ExperimentTag

    _require_writer(principal, "create an experiment")
    name = validate_experiment_name(name)
    clean_tags = _tags_dict(tags, limit=MAX_EXPERIMENT_TAG_VAL_LENGTH)
    tenant = Tenant.objects.select_for_update().get(pk=principal.tenant.pk)
    existing = Experiment.objects.filter(tenant=tenant, name=name).first()
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
                created_by=_actor(principal),
                creation_time=ts,
                last_update_time=ts,
            )
    except IntegrityError as exc:
        raise AlreadyExists(f"Experiment(name={name}) already exists.") from exc
    ExperimentTag.objects.bulk_create(
        [ExperimentTag(experiment=experiment, key=k, value=v) for k, v in clean_tags.items()]
    )
    if team is None and _actor(principal) is not None:
        # No team to own it: the creator gets manage (MLflow's rule), or they could not use their own experiment.
        replace_grants(experiment, [("user", principal.user, "manage")])
    events.emit(
        tenant=tenant,
        actor=_actor(principal),
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
def experiment_rename(*, principal: Principal, experiment, new_name: str):
    from .models import Experiment

    experiment = _lock_experiment(principal, experiment)
    require_experiment(principal, experiment, "edit", action="rename the experiment", scratch=False)
    new_name = validate_experiment_name(new_name)
    _check_experiment_active(experiment)
    if new_name == experiment.name:
        return experiment
    if Experiment.objects.filter(tenant=principal.tenant, name=new_name).exists():
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
        actor=_actor(principal),
        action="experiment.renamed",
        obj=experiment,
        before={"name": before},
        after={"name": new_name},
    )
    return experiment


def _set_experiment_stage(principal: Principal, experiment, stage: str, action: str):
    from .models import Run

    experiment = _lock_experiment(principal, experiment)
    require_experiment(principal, experiment, "manage", action=f"{action} the experiment", scratch=False)
    if experiment.number == 0 and stage == "deleted":
        raise InvalidParameter(
            "Cannot delete the default experiment '0'. This is an internally reserved experiment."
        )
    if experiment.lifecycle_stage == stage:
        raise InvalidParameter(
            f"Cannot {action} experiment {experiment.number}: it is already {'deleted' if stage == 'deleted' else 'active'}."
        )
    ts = now_ms()
    before = experiment.lifecycle_stage
    experiment.lifecycle_stage = stage
    experiment.last_update_time = ts
    experiment.save(update_fields=["lifecycle_stage", "last_update_time"])
    # As in MLflow: deleting an experiment deletes its runs; restoring restores them.
    runs = Run.objects.filter(experiment=experiment, lifecycle_stage=before)
    runs.update(lifecycle_stage=stage, deleted_time=ts if stage == "deleted" else None)
    events.emit(
        tenant=principal.tenant,
        actor=_actor(principal),
        action=f"experiment.{action}d",
        obj=experiment,
        before={"lifecycle_stage": before},
        after={"lifecycle_stage": stage},
    )
    return experiment


@transaction.atomic(durable=True)
def experiment_delete(*, principal: Principal, experiment):
    return _set_experiment_stage(principal, experiment, "deleted", "delete")


@transaction.atomic(durable=True)
def experiment_restore(*, principal: Principal, experiment):
    return _set_experiment_stage(principal, experiment, "active", "restore")


@transaction.atomic(durable=True)
def experiment_set_tag(*, principal: Principal, experiment, key: str, value: str) -> None:
    from .models import ExperimentTag

    experiment = _lock_experiment(principal, experiment)
    require_experiment(principal, experiment, "edit", action="set an experiment tag", scratch=False)
    _check_experiment_active(experiment)
    key = validate_key(key)
    value = _string_value(value if value is not None else "", "value", MAX_EXPERIMENT_TAG_VAL_LENGTH)
    ExperimentTag.objects.update_or_create(experiment=experiment, key=key, defaults={"value": value})
    events.emit(
        tenant=principal.tenant,
        actor=_actor(principal),
        action="experiment.tag_set",
        obj=experiment,
        after={"key": key, "value": value},
    )


@transaction.atomic(durable=True)
def experiment_delete_tag(*, principal: Principal, experiment, key: str) -> None:
    from .models import ExperimentTag

    experiment = _lock_experiment(principal, experiment)
    require_experiment(principal, experiment, "edit", action="delete an experiment tag", scratch=False)
    deleted = _delete_tag(ExperimentTag.objects.filter(experiment=experiment), key)
    if not deleted:
        raise NotFound(f"No tag with name: {key} in experiment {experiment.number}.")
    events.emit(
        tenant=principal.tenant,
        actor=_actor(principal),
        action="experiment.tag_deleted",
        obj=experiment,
        before={"key": key},
    )


@transaction.atomic(durable=True)
def experiment_set_grants(*, principal: Principal, experiment, grants: list[dict]) -> list[dict]:
    experiment = _lock_experiment(principal, experiment)
    require_experiment(principal, experiment, "manage", action="change permissions", scratch=False)
    parsed = parse_grants(principal.tenant, grants)
    before = grants_of(experiment)
    replace_grants(experiment, parsed)
    after = grants_of(experiment)
    events.emit(
        tenant=principal.tenant,
        actor=_actor(principal),
        action="experiment.grants_replaced",
        obj=experiment,
        before={"grants": before},
        after={"grants": after},
    )
    return after


# --- runs --------------------------------------------------------------------------------------------------------

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


def _run_snapshot(run) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "status": run.status,
        "lifecycle_stage": run.lifecycle_stage,
        "name": run.name,
    }


@transaction.atomic(durable=True)
def run_create(
    *, principal: Principal, experiment, run_name: str | None = None, start_time: Any = None, tags: Any = None
):
    """Start a run. Its user (and the `mlflow.user` tag) is the authenticated principal, whatever the client sent."""
    from .models import Run, RunTag

    experiment = _lock_experiment(principal, experiment)
    require_experiment(principal, experiment, "edit", action="create a run")
    _check_experiment_active(experiment)
    clean_tags = _tags_dict(tags)
    name = run_name if run_name not in (None, "") else clean_tags.get(RUN_NAME_TAG) or generate_run_name()
    name = _string_value(name, "run_name", MAX_RUN_NAME_LENGTH)
    username = _username(principal)
    clean_tags[USER_TAG] = username
    clean_tags[RUN_NAME_TAG] = name
    run_id = uuid.uuid4().hex
    run = Run.objects.create(
        run_id=run_id,
        tenant=principal.tenant,
        experiment=experiment,
        name=name,
        user=_actor(principal),
        user_label=username,
        status="RUNNING",
        start_time=parse_int(start_time, "start_time", default=now_ms()),
        artifact_uri=run_artifact_uri(experiment, run_id),
    )
    RunTag.objects.bulk_create([RunTag(run=run, key=k, value=v) for k, v in clean_tags.items()])
    events.emit(
        tenant=principal.tenant,
        actor=_actor(principal),
        action="run.created",
        obj=run,
        after={"run_id": run_id, "experiment_id": str(experiment.number), "name": name},
    )
    return run


@transaction.atomic(durable=True)
def run_update(
    *, principal: Principal, run, status: str | None = None, end_time: Any = None, run_name: str | None = None
):
    from .models import RunTag

    run = _lock_run(principal, run)
    require_experiment(principal, run.experiment, "edit", action="update the run")
    _check_run_active(run)
    before = _run_snapshot(run)
    fields = []
    if status not in (None, ""):
        if status not in RUN_STATUSES:
            raise InvalidParameter(f"Invalid run status '{status}': one of {', '.join(RUN_STATUSES)}.")
        run.status = status
        fields.append("status")
    if end_time not in (None, ""):
        run.end_time = parse_int(end_time, "end_time")
        fields.append("end_time")
    if run_name not in (None, ""):
        run.name = _string_value(run_name, "run_name", MAX_RUN_NAME_LENGTH)
        fields.append("name")
        RunTag.objects.update_or_create(run=run, key=RUN_NAME_TAG, defaults={"value": run.name})
    if fields:
        run.save(update_fields=fields)
        events.emit(
            tenant=principal.tenant,
            actor=_actor(principal),
            action="run.updated",
            obj=run,
            before=before,
            after=_run_snapshot(run),
        )
    return run


def _set_run_stage(principal: Principal, run, stage: str, action: str):
    run = _lock_run(principal, run)
    # Edit, not manage: (soft) deleting a run is routine curation of experiment data, restorable and audited, and
    # ordinary tokens (read, write, promote) must be able to do it; deleting the experiment itself needs manage.
    require_experiment(principal, run.experiment, "edit", action=f"{action} the run")
    if stage == "active":
        _check_experiment_active(run.experiment)
    before = _run_snapshot(run)
    if run.lifecycle_stage != stage:
        run.lifecycle_stage = stage
        run.deleted_time = now_ms() if stage == "deleted" else None
        run.save(update_fields=["lifecycle_stage", "deleted_time"])
        events.emit(
            tenant=principal.tenant,
            actor=_actor(principal),
            action=f"run.{action}d",
            obj=run,
            before=before,
            after=_run_snapshot(run),
        )
    return run


@transaction.atomic(durable=True)
def run_delete(*, principal: Principal, run):
    return _set_run_stage(principal, run, "deleted", "delete")


@transaction.atomic(durable=True)
def run_restore(*, principal: Principal, run):
    return _set_run_stage(principal, run, "active", "restore")


@dataclass(frozen=True)
class MetricPoint:
    key: str
    value: float
    timestamp: int
    step: int = 0
    model_id: str = ""
    dataset_name: str = ""
    dataset_digest: str = ""


def parse_metric(data: Any, *, path: str = "") -> MetricPoint:
    """A metric from MLflow's JSON: `{key, value, timestamp, step?, model_id?, dataset_name?, dataset_digest?}`."""
    if not isinstance(data, dict):
        raise InvalidParameter(f"{path or 'metric'} must be an object.")
    key = validate_key(data.get("key"), "key" if not path else f"{path}.key")
    if data.get("value") is None:
        raise InvalidParameter(f"Missing value for required parameter '{path + '.' if path else ''}value'.")
    return MetricPoint(
        key=key,
        value=parse_double(data.get("value"), "value"),
        timestamp=parse_int(data.get("timestamp"), "timestamp", default=now_ms()),
        step=parse_int(data.get("step"), "step", default=0),
        model_id=_string_value(data.get("model_id") or "", "model_id", 64),
        dataset_name=_string_value(data.get("dataset_name") or "", "dataset_name", 500),
        dataset_digest=_string_value(data.get("dataset_digest") or "", "dataset_digest", 64),
    )


def _latest_order(value: float, step: int, timestamp: int) -> tuple[int, int, float]:
    # MLflow's rule: the latest point has the highest (step, timestamp, value); its SQL store keeps NaN as 0 for
    # that comparison (and ±inf as ±max double), which this mirrors.
    if math.isnan(value):
        value = 0.0
    return step, timestamp, value


def _point_key(key: str, timestamp: int, step: int, value: float) -> tuple:
    return key, timestamp, step, "NaN" if math.isnan(value) else value


def _log(
    principal: Principal,
    run,
    *,
    metrics: list[MetricPoint],
    params: dict[str, str],
    tags: dict[str, str],
    action: str,
) -> None:
    """The one write path for log-metric, log-parameter, set-tag and log-batch. Runs inside the caller's
    transaction with the run row locked; a handful of queries whatever the batch size."""
    from .models import LatestMetric, Metric, Param, RunTag

    require_experiment(principal, run.experiment, "edit", action="log to the run")
    _check_run_active(run)

    if params:
        existing = dict(Param.objects.filter(run=run, key__in=list(params)).values_list("key", "value"))
        for key, value in params.items():
            if key in existing and existing[key] != value:
                raise InvalidParameter(
                    f"Changing param values is not allowed. Param with key='{key}' was already logged with "
                    f"value='{existing[key]}' for run ID='{run.run_id}'. Attempted logging new value '{value}'."
                )
        new = [Param(run=run, key=k, value=v) for k, v in params.items() if k not in existing]
        Param.objects.bulk_create(new)

    if tags:
        if USER_TAG in tags:
            tags[USER_TAG] = (
                run.user_label
            )  # the run's user is the authenticated principal, not the client's claim
        existing_tags = {t.key: t for t in RunTag.objects.filter(run=run, key__in=list(tags))}
        changed = []
        for key, value in tags.items():
            tag = existing_tags.get(key)
            if tag is None:
                continue
            if tag.value != value:
                tag.value = value
                changed.append(tag)
        RunTag.objects.bulk_update(changed, ["value"])
        RunTag.objects.bulk_create(
            [RunTag(run=run, key=k, value=v) for k, v in tags.items() if k not in existing_tags]
        )
        if RUN_NAME_TAG in tags and tags[RUN_NAME_TAG] and tags[RUN_NAME_TAG] != run.name:
            run.name = tags[RUN_NAME_TAG][:MAX_RUN_NAME_LENGTH]
            run.save(update_fields=["name"])

    if metrics:
        # MLflow keys a history point by (key, timestamp, step, value): logging an identical point again (a client
        # retry, or `log_model` re-logging the run's metrics with a `model_id`) adds nothing to the history. A
        # re-logged point with a model id tags the existing point with it, which is where the logged model's
        # metrics come from. One query finds the candidates: fresh points have fresh timestamps.
        existing_points: dict[tuple, Metric] = {}
        for row in Metric.objects.filter(
            run=run, key__in={m.key for m in metrics}, timestamp__in={m.timestamp for m in metrics}
        ):
            existing_points.setdefault(_point_key(row.key, row.timestamp, row.step, row.value), row)
        new_rows, tagged = [], []
        for m in metrics:
            point = _point_key(m.key, m.timestamp, m.step, m.value)
            row = existing_points.get(point)
            if row is None:
                row = Metric(
                    run=run,
                    key=m.key,
                    value=m.value,
                    timestamp=m.timestamp,
                    step=m.step,
                    model_id=m.model_id,
                    dataset_name=m.dataset_name,
                    dataset_digest=m.dataset_digest,
                )
                new_rows.append(row)
                existing_points[point] = row
            elif m.model_id and not row.model_id:
                row.model_id = m.model_id
                if row.pk is not None:
                    tagged.append(row)
            elif m.model_id and row.model_id != m.model_id:
                new_rows.append(
                    Metric(
                        run=run,
                        key=m.key,
                        value=m.value,
                        timestamp=m.timestamp,
                        step=m.step,
                        model_id=m.model_id,
                        dataset_name=m.dataset_name,
                        dataset_digest=m.dataset_digest,
                    )
                )
        Metric.objects.bulk_create(new_rows)
        Metric.objects.bulk_update(tagged, ["model_id"])
        newest: dict[str, MetricPoint] = {}
        for m in metrics:
            best = newest.get(m.key)
            if best is None or _latest_order(m.value, m.step, m.timestamp) > _latest_order(
                best.value, best.step, best.timestamp
            ):
                newest[m.key] = m
        latest = {lm.key: lm for lm in LatestMetric.objects.filter(run=run, key__in=list(newest))}
        to_update, to_create = [], []
        for key, m in newest.items():
            current = latest.get(key)
            if current is None:
                to_create.append(
                    LatestMetric(run=run, key=key, value=m.value, timestamp=m.timestamp, step=m.step)
                )
            elif _latest_order(m.value, m.step, m.timestamp) > _latest_order(
                current.value, current.step, current.timestamp
            ):
                current.value, current.timestamp, current.step = m.value, m.timestamp, m.step
                to_update.append(current)
        LatestMetric.objects.bulk_create(to_create)
        LatestMetric.objects.bulk_update(to_update, ["value", "timestamp", "step"])

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
    events.emit(tenant=principal.tenant, actor=_actor(principal), action=action, obj=run, after=summary)


@transaction.atomic(durable=True)
def run_log_metric(*, principal: Principal, run, metric: MetricPoint) -> None:
    run = _lock_run(principal, run)
    _log(principal, run, metrics=[metric], params={}, tags={}, action="run.metrics_logged")


@transaction.atomic(durable=True)
def run_log_param(*, principal: Principal, run, key: str, value: Any) -> None:
    key = validate_key(key)
    value = _string_value(value, "value", MAX_PARAM_VAL_LENGTH)
    run = _lock_run(principal, run)
    _log(principal, run, metrics=[], params={key: value}, tags={}, action="run.params_logged")


@transaction.atomic(durable=True)
def run_set_tag(*, principal: Principal, run, key: str, value: Any) -> None:
    key = validate_key(key)
    value = _string_value("" if value is None else value, "value", MAX_TAG_VAL_LENGTH)
    run = _lock_run(principal, run)
    _log(principal, run, metrics=[], params={}, tags={key: value}, action="run.tags_set")


@transaction.atomic(durable=True)
def run_delete_tag(*, principal: Principal, run, key: str) -> None:
    from .models import RunTag

    run = _lock_run(principal, run)
    require_experiment(principal, run.experiment, "edit", action="delete a run tag")
    _check_run_active(run)
    deleted = _delete_tag(RunTag.objects.filter(run=run), key)
    if not deleted:
        raise NotFound(f"No tag with name: {key} in run with id {run.run_id}")
    events.emit(
        tenant=principal.tenant,
        actor=_actor(principal),
        action="run.tag_deleted",
        obj=run,
        before={"key": key},
    )


def parse_batch(
    metrics: Any, params: Any, tags: Any
) -> tuple[list[MetricPoint], dict[str, str], dict[str, str]]:
    """Validate a log-batch payload with MLflow's limits."""
    metrics = metrics or []
    params = params or []
    tags = tags or []
    for name, value in (("metrics", metrics), ("params", params), ("tags", tags)):
        if not isinstance(value, list):
            raise InvalidParameter(f"'{name}' must be a list.")
    if len(metrics) > MAX_METRICS_PER_BATCH:
        raise InvalidParameter(
            f"A batch logging request can contain at most {MAX_METRICS_PER_BATCH} metrics. "
            f"Got {len(metrics)} metrics."
        )
    if len(params) > MAX_PARAMS_TAGS_PER_BATCH:
        raise InvalidParameter(
            f"A batch logging request can contain at most {MAX_PARAMS_TAGS_PER_BATCH} params. "
            f"Got {len(params)} params."
        )
    if len(tags) > MAX_PARAMS_TAGS_PER_BATCH:
        raise InvalidParameter(
            f"A batch logging request can contain at most {MAX_PARAMS_TAGS_PER_BATCH} tags. "
            f"Got {len(tags)} tags."
        )
    total = len(metrics) + len(params) + len(tags)
    if total > MAX_ENTITIES_PER_BATCH:
        raise InvalidParameter(
            f"A batch logging request can contain at most {MAX_ENTITIES_PER_BATCH} total "
            f"metrics, params, and tags. Got {total}."
        )
    points = [parse_metric(m, path=f"metrics[{i}]") for i, m in enumerate(metrics)]
    # Identical points sent twice (a client retry) are one point, as in MLflow.
    points = list(dict.fromkeys(points))
    clean_params: dict[str, str] = {}
    for index, param in enumerate(params):
        if not isinstance(param, dict):
            raise InvalidParameter(f"params[{index}] must be an object with 'key' and 'value'.")
        key = validate_key(param.get("key"), f"params[{index}].key")
        value = _string_value(param.get("value"), f"params[{index}].value", MAX_PARAM_VAL_LENGTH)
        if key in clean_params and clean_params[key] != value:
            raise InvalidParameter(
                f"Duplicate parameter keys have been submitted: ['{key}']. Please ensure the "
                f"request contains only one param value per param key."
            )
        clean_params[key] = value
    clean_tags = _tags_dict(tags)
    return points, clean_params, clean_tags


@transaction.atomic(durable=True)
def run_log_batch(
    *, principal: Principal, run, metrics: list[MetricPoint], params: dict[str, str], tags: dict[str, str]
) -> None:
    run = _lock_run(principal, run)
    if not (metrics or params or tags):
        require_experiment(principal, run.experiment, "edit", action="log to the run")
        return
    _log(principal, run, metrics=metrics, params=dict(params), tags=dict(tags), action="run.batch_logged")


@transaction.atomic(durable=True)
def run_log_outputs(*, principal: Principal, run, models: list[tuple[str, int]]) -> None:
    """Record logged models as outputs of a run (`runs/outputs`)."""
    from .models import LoggedModel, RunOutput

    run = _lock_run(principal, run)
    require_experiment(principal, run.experiment, "edit", action="log run outputs")
    _check_run_active(run)
    ids = [mid for mid, _ in models]
    found = {m.model_id: m for m in LoggedModel.objects.filter(tenant=principal.tenant, model_id__in=ids)}
    missing = [mid for mid in ids if mid not in found]
    if missing:
        raise NotFound(f"Logged model with ID '{missing[0]}' not found.")
    existing = set(
        RunOutput.objects.filter(run=run, logged_model__in=found.values()).values_list(
            "logged_model__model_id", flat=True
        )
    )
    RunOutput.objects.bulk_create(
        [
            RunOutput(run=run, logged_model=found[mid], step=step)
            for mid, step in dict(models).items()
            if mid not in existing
        ]
    )
    events.emit(
        tenant=principal.tenant,
        actor=_actor(principal),
        action="run.outputs_logged",
        obj=run,
        after={"models": [{"model_id": m, "step": s} for m, s in models]},
    )


# --- run inputs: datasets and models ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetInputSpec:
    """One validated `DatasetInput`: the dataset's description and the input tags (key → value)."""

    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None
    profile: str | None
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def context(self) -> str | None:
        from .models import DATASET_CONTEXT_TAG

        return dict(self.tags).get(DATASET_CONTEXT_TAG)


def _optional_text(value: Any, what: str, limit: int) -> str | None:
    return None if value is None else _string_value(value, what, limit)


def parse_dataset_inputs(datasets: Any) -> list[DatasetInputSpec]:
    """MLflow's `[{dataset: {name, digest, source_type, source, schema?, profile?}, tags?: [{key, value}]}]`,
    validated with MLflow's limits (`utils/validation.py:_validate_dataset_inputs`). Inputs naming the same
    (name, digest) twice are one input: the first wins, as in MLflow."""
    if datasets is None:
        return []
    if not isinstance(datasets, list):
        raise InvalidParameter("'datasets' must be a list.")
    if len(datasets) > MAX_DATASETS_PER_BATCH:
        raise InvalidParameter(
            f"A request can log at most {MAX_DATASETS_PER_BATCH} datasets. Got {len(datasets)} datasets."
        )
    specs: dict[tuple[str, str], DatasetInputSpec] = {}
    for index, item in enumerate(datasets):
        path = f"datasets[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("dataset"), dict):
            raise InvalidParameter(f"{path} must be an object with a 'dataset' object.")
        data = item["dataset"]
        name = _string_value(data.get("name"), f"{path}.dataset.name", MAX_DATASET_NAME_SIZE)
        digest = _string_value(data.get("digest"), f"{path}.dataset.digest", MAX_DATASET_DIGEST_SIZE)
        if not name or not digest:
            raise InvalidParameter(f"{path}.dataset must have a non-empty 'name' and 'digest'.")
        source_type = _string_value(
            data.get("source_type"), f"{path}.dataset.source_type", MAX_DATASET_SOURCE_TYPE_SIZE
        )
        source = _string_value(data.get("source"), f"{path}.dataset.source", MAX_DATASET_SOURCE_SIZE)
        schema = _optional_text(data.get("schema"), f"{path}.dataset.schema", MAX_DATASET_SCHEMA_SIZE)
        profile = _optional_text(data.get("profile"), f"{path}.dataset.profile", MAX_DATASET_PROFILE_SIZE)
        raw_tags = item.get("tags") or []
        if not isinstance(raw_tags, list):
            raise InvalidParameter(f"{path}.tags must be a list of {{key, value}} objects.")
        tags: dict[str, str] = {}
        for tag_index, tag in enumerate(raw_tags):
            tag_path = f"{path}.tags[{tag_index}]"
            if not isinstance(tag, dict):
                raise InvalidParameter(f"{tag_path} must be an object with 'key' and 'value'.")
            key = _string_value(tag.get("key"), f"{tag_path}.key", MAX_INPUT_TAG_KEY_SIZE)
            tags[key] = _string_value(tag.get("value"), f"{tag_path}.value", MAX_INPUT_TAG_VALUE_SIZE)
        specs.setdefault(
            (name, digest),
            DatasetInputSpec(name, digest, source_type, source, schema, profile, tuple(tags.items())),
        )
    return list(specs.values())


def parse_model_inputs(models: Any) -> list[str]:
    """MLflow 3's `[{model_id}]` → the distinct logged-model ids, in order."""
    if models is None:
        return []
    if not isinstance(models, list):
        raise InvalidParameter("'models' must be a list.")
    if len(models) > MAX_DATASETS_PER_BATCH:
        raise InvalidParameter(f"A request can log at most {MAX_DATASETS_PER_BATCH} model inputs.")
    ids = []
    for index, item in enumerate(models):
        model_id = item.get("model_id") if isinstance(item, dict) else None
        if not isinstance(model_id, str) or not model_id:
            raise InvalidParameter(f"models[{index}] must be an object with a string 'model_id'.")
        ids.append(model_id)
    return list(dict.fromkeys(ids))


def _audit_source(source: str) -> str:
    # The source says where the data came from, which is what an auditor asks; cap it so that a request of many
    # datasets with large sources cannot make one audit event megabytes long.
    return source if len(source) <= 2000 else source[:2000] + "…"


@transaction.atomic(durable=True)
def run_log_inputs(*, principal: Principal, run, datasets: Any, models: Any = None) -> None:
    """Record the datasets (and logged models) a run used (`runs/log-inputs`).

    `datasets` is MLflow's `[{dataset: {...}, tags: [{key, value}]}]` (or parsed `DatasetInputSpec`s), `models`
    its `[{model_id}]`. As in MLflow's SQL store: a dataset is one row per (experiment, name, digest), shared by
    every run of the experiment that logs it, and keeps the description it was first logged with; logging a
    dataset the run already has changes nothing (its first input tags stay)."""
    from .models import Dataset, LoggedModel, RunInput, RunInputTag, RunModelInput

    specs = (
        list(datasets)
        if datasets and all(isinstance(d, DatasetInputSpec) for d in datasets)
        else parse_dataset_inputs(datasets)
    )
    model_ids = parse_model_inputs(models)
    run = _lock_run(principal, run)
    require_experiment(principal, run.experiment, "edit", action="log run inputs")
    _check_run_active(run)
    if not specs and not model_ids:
        return

    experiment = run.experiment
    new_inputs: list[DatasetInputSpec] = []
    if specs:
        # ON CONFLICT DO NOTHING: two runs of the experiment logging the same new dataset at once both end up
        # with the one row (the second insert waits for the first to commit, then skips), without an experiment
        # lock that would serialise all of the experiment's runs.
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
        rows = Dataset.objects.filter(
            experiment=experiment, name__in={s.name for s in specs}, digest__in={s.digest for s in specs}
        )
        found = {(d.name, d.digest): d for d in rows}
        # The run row is locked, so no other writer can add inputs to this run meanwhile.
        existing = set(
            RunInput.objects.filter(
                run=run, dataset__in=[found[(s.name, s.digest)] for s in specs]
            ).values_list("dataset_id", flat=True)
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

    new_models: list[str] = []
    if model_ids:
        logged = {
            m.model_id: m
            for m in LoggedModel.objects.select_related("experiment").filter(
                tenant=principal.tenant, model_id__in=model_ids
            )
        }
        for model_id in model_ids:
            try:
                if model_id not in logged:
                    raise NotFound("missing")
                require_experiment(
                    principal, logged[model_id].experiment, "read", action="use the logged model"
                )
            except NotFound as exc:  # a model the caller may not read answers like a missing one
                raise NotFound(f"Logged model with ID '{model_id}' not found.") from exc
        existing_models = set(
            RunModelInput.objects.filter(run=run, logged_model__in=logged.values()).values_list(
                "logged_model__model_id", flat=True
            )
        )
        new_models = [m for m in model_ids if m not in existing_models]
        RunModelInput.objects.bulk_create(
            [RunModelInput(run=run, logged_model=logged[m]) for m in new_models]
        )

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
        tenant=principal.tenant, actor=_actor(principal), action="run.inputs_logged", obj=run, after=after
    )


# --- logged models -----------------------------------------------------------------------------------------------


def _lock_logged_model(principal: Principal, logged_model):
    from .models import LoggedModel

    locked = (
        LoggedModel.objects.select_for_update(of=("self",))
        .select_related("experiment")
        .filter(pk=logged_model.pk, tenant=principal.tenant)
        .first()
    )
    if locked is None:
        raise NotFound(f"Logged model with ID '{logged_model.model_id}' not found.")
    return locked


@transaction.atomic(durable=True)
def logged_model_create(
    *,
    principal: Principal,
    experiment,
    name: str | None = None,
    source_run=None,
    model_type: str | None = None,
    params: Any = None,
    tags: Any = None,
):
    from .models import LoggedModel, LoggedModelParam, LoggedModelTag

    experiment = _lock_experiment(principal, experiment)
    require_experiment(principal, experiment, "edit", action="create a logged model")
    _check_experiment_active(experiment)
    name = _string_value(
        name if name not in (None, "") else generate_run_name(), "name", MAX_LOGGED_MODEL_NAME_LENGTH
    )
    model_type = _string_value(model_type or "", "model_type", 500)
    clean_tags = _tags_dict(tags)
    clean_params: dict[str, str] = {}
    for key, value in _tags_dict(params, limit=MAX_PARAM_VAL_LENGTH).items():
        clean_params[key] = value
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
        actor=_actor(principal),
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
def logged_model_finalize(*, principal: Principal, logged_model, status: str):
    from .models import LoggedModelStatus

    logged_model = _lock_logged_model(principal, logged_model)
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
        actor=_actor(principal),
        action="logged_model.finalized",
        obj=logged_model,
        before={"status": before},
        after={"status": status},
    )
    return logged_model


@transaction.atomic(durable=True)
def logged_model_set_tags(*, principal: Principal, logged_model, tags: Any) -> None:
    from .models import LoggedModelTag

    logged_model = _lock_logged_model(principal, logged_model)
    require_experiment(principal, logged_model.experiment, "edit", action="set logged model tags")
    clean = _tags_dict(tags)
    for key, value in clean.items():
        LoggedModelTag.objects.update_or_create(logged_model=logged_model, key=key, defaults={"value": value})
    logged_model.last_updated_timestamp = now_ms()
    logged_model.save(update_fields=["last_updated_timestamp"])
    events.emit(
        tenant=principal.tenant,
        actor=_actor(principal),
        action="logged_model.tags_set",
        obj=logged_model,
        after={"tags": clean},
    )


@transaction.atomic(durable=True)
def logged_model_delete_tag(*, principal: Principal, logged_model, key: str) -> None:
    from .models import LoggedModelTag

    logged_model = _lock_logged_model(principal, logged_model)
    require_experiment(principal, logged_model.experiment, "edit", action="delete a logged model tag")
    deleted = _delete_tag(LoggedModelTag.objects.filter(logged_model=logged_model), key)
    if not deleted:
        raise NotFound(f"No tag with key '{key}' on logged model '{logged_model.model_id}'.")
    events.emit(
        tenant=principal.tenant,
        actor=_actor(principal),
        action="logged_model.tag_deleted",
        obj=logged_model,
        before={"key": key},
    )


# --- artifacts ---------------------------------------------------------------------------------------------------


def artifact_experiment(principal: Principal, path: str, level: str):
    """The experiment owning a tenant artifact path (its first segment is the experiment number), with the
    caller's permission checked. A non-numeric first segment or an unknown experiment is a 404."""
    from .models import Experiment

    first = path.split("/", 1)[0]
    experiment = (
        Experiment.objects.filter(tenant=principal.tenant, number=int(first)).first()
        if ascii_digits(first) and len(first) < 19
        else None
    )
    if experiment is None:
        raise NotFound(f"No artifact at '{path}'.")
    require_experiment(
        principal, experiment, level, action="write artifacts" if level != "read" else "read artifacts"
    )
    return experiment


@transaction.atomic(durable=True)
def artifact_record(*, principal: Principal, path: str, sha256: str, size: int):
    """Record an uploaded file: the tenant's Blob (created if new) and the ArtifactEntry at `path` (replaced if it
    exists). The bytes are already in storage; this only writes rows."""
    from .models import ArtifactEntry, Blob

    experiment = artifact_experiment(principal, path, "edit")
    tenant = principal.tenant
    if tenant.quota_storage_bytes is not None:
        # Lock the tenant row so concurrent uploads cannot both fit under the quota.
        from django.db.models import Sum

        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
        if not Blob.objects.filter(tenant=tenant, sha256=sha256).exists():
            used = Blob.objects.filter(tenant=tenant).aggregate(total=Sum("size"))["total"] or 0
            if used + size > tenant.quota_storage_bytes:
                raise QuotaExceeded(
                    f"Storage quota of tenant '{tenant.slug}' exceeded ({tenant.quota_storage_bytes} bytes)."
                )
    blob, _ = Blob.objects.get_or_create(tenant=tenant, sha256=sha256, defaults={"size": size})
    entry = ArtifactEntry.objects.select_for_update().filter(tenant=tenant, path=path).first()
    created = False
    if entry is None:
        try:
            with transaction.atomic():
                entry = ArtifactEntry.objects.create(
                    tenant=tenant, path=path, blob=blob, sha256=sha256, size=size
                )
                created = True
        except (
            IntegrityError
        ):  # a concurrent upload of the same path won; last writer wins, as on a file system
            entry = ArtifactEntry.objects.select_for_update().get(tenant=tenant, path=path)
    before = None
    if not created:
        before = {"sha256": entry.sha256, "size": entry.size}
        entry.blob, entry.sha256, entry.size = blob, sha256, size
        entry.save(update_fields=["blob", "sha256", "size", "updated_at"])
    events.emit(
        tenant=tenant,
        actor=_actor(principal),
        action="artifact.uploaded",
        obj=entry,
        before=before,
        after={"path": path, "sha256": sha256, "size": size, "experiment_id": str(experiment.number)},
    )
    return entry


@transaction.atomic(durable=True)
def artifact_delete(*, principal: Principal, path: str) -> int:
    """Delete the file at `path`, or everything under it if it is a directory. Blobs stay (registered versions
    may share them); returns how many entries went."""
    from .models import ArtifactEntry

    artifact_experiment(principal, path, "edit")
    entries = ArtifactEntry.objects.filter(tenant=principal.tenant, path=path) | ArtifactEntry.objects.filter(
        tenant=principal.tenant, path__startswith=path + "/"
    )
    count, _ = entries.delete()
    if count:
        events.emit(
            tenant=principal.tenant,
            actor=_actor(principal),
            action="artifact.deleted",
            obj=principal.tenant,
            before={"path": path, "entries": count},
        )
    return count
