"""Writes for the model registry: registered models, versions, stages, aliases, tags, ownership and grants.

Every public function is one durable transaction that checks the caller's permission itself (so every route, native
API, MLflow API, web and admin, gets the same answer), locks the parent RegisteredModel row first, then what it
changes, validates, writes with `update_fields`, appends the audit event last, and enqueues Celery work on commit.

Locking order (fixed, to rule out deadlocks): Tenant row (only for the model quota) → RegisteredModel row →
ModelVersion / alias rows → the audit chain head (taken by `events.emit`). Everything that changes a model's
versions, stages or aliases holds the model row lock, which is what makes version numbers, "one Production after
an archiving promotion" and alias preconditions race-free.

Ownership tags: `owner_team` is system-managed and mirrors `RegisteredModel.owner_team` (setting it is a change of
owner; it cannot be deleted). Any other key that is `owner` or starts with `owner_`, `owner.` or `owner-`
(`owner_email`, `owner.oncall` …) is an ownership tag too: anyone who can read the model sees them, only `manage`
may set or delete them."""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import re
import time
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction

from config.errors import AlreadyExists, Conflict, InvalidParameter, NotFound, PermissionDenied, QuotaExceeded
from config.validation import ascii_digits, check_text, is_storable
from tenants.access import Principal
from tenants.models import Role, Team, Tenant

from . import events
from .models import (
    ModelAlias,
    ModelVersion,
    ModelVersionFile,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelTag,
    Stage,
    VersionStatus,
)
from .permissions import allows, grants_of, parse_grants, replace_grants, require

logger = logging.getLogger(__name__)

MAX_MODEL_NAME_LENGTH = 256
MAX_TAG_KEY_LENGTH = 250
MAX_TAG_VALUE_LENGTH = 100_000
MAX_ALIAS_LENGTH = 255
MAX_DESCRIPTION_LENGTH = 100_000
OWNER_TEAM_TAG = "owner_team"
_TAG_KEY_RE = re.compile(r"^[/\w.\- :]*$")  # MLflow's rule for tag names
_ALIAS_RE = re.compile(r"^[\w\-]*$")
_VERSION_ALIAS_RE = re.compile(r"^[vV]\d+$")
STAGES = tuple(Stage.values)  # ("None", "Staging", "Production", "Archived")
_STAGE_BY_LOWER = {s.lower(): s for s in STAGES}


def now_ms() -> int:
    return int(time.time() * 1000)


# --- validation ------------------------------------------------------------------------------------------------


def _path_not_unique(name: str) -> bool:
    # MLflow's rule: a name must not resolve to another name when treated as a path.
    norm = posixpath.normpath(name)
    return norm != name or norm == "." or norm.startswith("..") or norm.startswith("/")


def validate_model_name(name: Any, field: str = "name") -> str:
    """MLflow's registered-model name rules, plus: no '@' (it would make `models:/name@alias` ambiguous) and no
    control characters."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameter(
            f"Missing value for required parameter '{field}'. See the API docs for more "
            f"information about request parameters."
        )
    if len(name) > MAX_MODEL_NAME_LENGTH:
        raise InvalidParameter(
            f"Invalid model name '{name[:50]}…': at most {MAX_MODEL_NAME_LENGTH} characters."
        )
    if any(c in name for c in "/:@"):
        raise InvalidParameter(f"Invalid model name '{name}'. Names cannot contain '/', ':' or '@'.")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InvalidParameter(f"Invalid model name {name!r}. Names cannot contain control characters.")
    check_text(name, field)
    if _path_not_unique(name):
        raise InvalidParameter(
            f"Invalid value '{name}' for parameter '{field}': names may be treated as files "
            f"and must not resolve to other names."
        )
    return name


def validate_tag(key: Any, value: Any = "", *, check_value: bool = True) -> tuple[str, str]:
    if not isinstance(key, str) or key == "":
        raise InvalidParameter("Missing value for required parameter 'key'.")
    if not _TAG_KEY_RE.match(key) or _path_not_unique(key):
        raise InvalidParameter(
            f"Invalid value '{key}' for parameter 'key': names may only contain alphanumerics, "
            f"underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/)."
        )
    if len(key) > MAX_TAG_KEY_LENGTH:
        raise InvalidParameter(f"Tag key '{key[:50]}…' is longer than {MAX_TAG_KEY_LENGTH} characters.")
    if not check_value:
        return key, ""
    if value is None:
        raise InvalidParameter("Tag value cannot be None.")
    if not isinstance(value, str):
        value = str(value)
    check_text(value, "value")
    if len(value) > MAX_TAG_VALUE_LENGTH:
        raise InvalidParameter(f"Tag value for '{key}' is longer than {MAX_TAG_VALUE_LENGTH} characters.")
    return key, value


def validate_alias(alias: Any) -> str:
    """MLflow's alias rules: non-empty, `^[\\w\\-]*$`, at most 255, `latest` and `v<digits>` reserved."""
    if not isinstance(alias, str) or alias == "":
        raise InvalidParameter("Registered model alias name cannot be empty.")
    if not _ALIAS_RE.match(alias):
        raise InvalidParameter(
            f"Invalid alias name: '{alias}'. Names may only contain alphanumerics, "
            f"underscores (_), and dashes (-)."
        )
    if len(alias) > MAX_ALIAS_LENGTH:
        raise InvalidParameter(
            f"Registered model alias name exceeds the maximum length of {MAX_ALIAS_LENGTH}."
        )
    if alias.lower() == "latest":
        raise InvalidParameter("'latest' alias name (case insensitive) is reserved.")
    if _VERSION_ALIAS_RE.match(alias):
        raise InvalidParameter(f"Version alias name '{alias}' is reserved.")
    return alias


def canonical_stage(stage: Any) -> str:
    """`staging` → `Staging`; anything unknown is a 400 with MLflow's message."""
    found = _STAGE_BY_LOWER.get(str(stage).lower()) if isinstance(stage, str) else None
    if found is None:
        raise InvalidParameter(
            f"Invalid Model Version stage: {stage}. Value must be one of {', '.join(STAGES)}."
        )
    return found


def _description(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidParameter("'description' must be a string.")
    check_text(value, "description")
    if len(value) > MAX_DESCRIPTION_LENGTH:
        raise InvalidParameter(f"'description' is longer than {MAX_DESCRIPTION_LENGTH} characters.")
    return value


def is_ownership_tag(key: str) -> bool:
    return key == "owner" or key.startswith(("owner_", "owner.", "owner-"))


def is_protected_alias(tenant: Tenant, alias: str) -> bool:
    return alias in (tenant.protected_aliases or [])


def parse_version_number(version: Any) -> int:
    if isinstance(version, bool):
        raise InvalidParameter(f"Parameter 'version' must be an integer, got '{version}'.")
    try:
        number = int(str(version).strip())
    except (TypeError, ValueError) as exc:
        raise InvalidParameter(f"Parameter 'version' must be an integer, got '{version}'.") from exc
    return number


def manifest_sha256(files: Iterable[tuple[str, int, str]]) -> str:
    """SHA-256 over the canonical manifest: `[[path, size, sha256], …]` sorted by path, compact JSON."""
    rows = sorted([str(p), int(s), str(h)] for p, s, h in files)
    return hashlib.sha256(json.dumps(rows, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


# --- principals --------------------------------------------------------------------------------------------------


def admin_principal(*, user, tenant: Tenant) -> Principal:
    """A tenant-admin principal for a platform admin acting through the Django admin: full scopes, no token.
    Refused to anyone else, for whom it would be an escalation."""
    from accounts.models import SCOPES
    from tenants.models import TeamMembership

    if not (getattr(user, "is_active", False) and getattr(user, "is_superuser", False)):
        raise PermissionDenied("Only platform admins act on the registry through the admin.")

    return Principal(
        user=user,
        tenant=tenant,
        role=Role.ADMIN,
        scopes=frozenset(SCOPES),
        token=None,
        team_ids=frozenset(
            TeamMembership.objects.filter(user=user, team__tenant=tenant).values_list("team_id", flat=True)
        ),
        platform_admin=bool(getattr(user, "is_superuser", False)),
    )


def _actor_label(principal: Principal) -> str:
    return getattr(principal.user, "username", "") or ""


# --- locking helpers ---------------------------------------------------------------------------------------------


def _lock_model(principal: Principal, model: RegisteredModel) -> RegisteredModel:
    """Re-read and lock the model row, in the caller's tenant. A model deleted meanwhile answers 404."""
    locked = (
        RegisteredModel.objects.select_for_update(of=("self",))
        .select_related("owner_team")
        .filter(pk=model.pk, tenant=principal.tenant)
        .first()
    )
    if locked is None:
        raise NotFound(f"Registered Model with name={model.name} not found")
    return locked


def _lock_version(principal: Principal, version: ModelVersion) -> tuple[RegisteredModel, ModelVersion]:
    model = _lock_model(principal, version.model)
    locked = ModelVersion.objects.select_for_update().filter(pk=version.pk, model=model).first()
    if locked is None:
        raise NotFound(f"Model Version (name={model.name}, version={version.version}) not found")
    locked.model = model
    return model, locked


def _touch(model: RegisteredModel, ts: int | None = None) -> None:
    model.last_updated_timestamp = ts or now_ms()
    model.save(update_fields=["last_updated_timestamp"])


def _version_snapshot(version: ModelVersion) -> dict[str, Any]:
    return {"version": version.version, "stage": version.stage, "status": version.status}


def _audit(
    principal: Principal | None,
    *,
    tenant: Tenant,
    action: str,
    obj,
    model: RegisteredModel,
    version: int | None = None,
    before: dict | None = None,
    after: dict | None = None,
) -> None:
    events.emit(
        tenant=tenant,
        actor=principal.user if principal else None,
        action=action,
        obj=obj,
        model_id=model.pk,
        version=version,
        before=before,
        after=after,
    )


# --- registered models -------------------------------------------------------------------------------------------


def _team_in_tenant(tenant: Tenant, team: Team | str | None) -> Team | None:
    if team is None or team == "":
        return None
    if isinstance(team, Team):
        if team.tenant_id != tenant.pk:
            raise InvalidParameter(f"Team '{team.slug}' not found in this tenant.")
        return team
    found = Team.objects.filter(tenant=tenant, slug=str(team)).first()
    if found is None:
        raise InvalidParameter(f"Team '{team}' not found in this tenant.")
    return found


def _set_owner_tag(model: RegisteredModel, team: Team | None) -> None:
    if team is None:
        RegisteredModelTag.objects.filter(model=model, key=OWNER_TEAM_TAG).delete()
    else:
        RegisteredModelTag.objects.update_or_create(
            model=model, key=OWNER_TEAM_TAG, defaults={"value": team.slug}
        )


@transaction.atomic(durable=True)
def registered_model_create(
    *,
    principal: Principal,
    name: str,
    description: str = "",
    tags: dict[str, str] | None = None,
    owner_team: Team | str | None = None,
) -> RegisteredModel:
    tenant = principal.tenant
    name = validate_model_name(name)
    description = _description(description)
    if principal.is_viewer:
        raise PermissionDenied("Permission denied to create a registered model: viewers only read.")
    principal.require_scope("write")
    clean_tags: dict[str, str] = {}
    for key, value in (tags or {}).items():
        key, value = validate_tag(key, value)
        clean_tags[key] = value
    # An `owner_team` tag at creation names the owner (MLflow clients can only pass tags).
    tag_owner = clean_tags.pop(OWNER_TEAM_TAG, None)
    team = _team_in_tenant(tenant, owner_team if owner_team not in (None, "") else tag_owner)
    if team is None:
        team = principal.default_team()
    elif not principal.is_tenant_admin and team.pk not in principal.team_ids:
        raise PermissionDenied(
            f"Permission denied: you can only create models owned by your own teams, not '{team.slug}'."
        )
    quota = Tenant.objects.filter(pk=tenant.pk).values_list("quota_models", flat=True).first()
    if quota is not None:
        # Lock the tenant row (and re-read the quota under it) so two concurrent creations cannot both pass.
        quota = (
            Tenant.objects.select_for_update()
            .filter(pk=tenant.pk)
            .values_list("quota_models", flat=True)
            .first()
        )
        if quota is not None and RegisteredModel.objects.filter(tenant=tenant).count() >= quota:
            raise QuotaExceeded(f"Tenant '{tenant.slug}' has reached its quota of {quota} models.")
    ts = now_ms()
    try:
        with transaction.atomic():  # savepoint: a concurrent create of the same name loses on the unique key
            model = RegisteredModel.objects.create(
                tenant=tenant,
                name=name,
                description=description,
                owner_team=team,
                created_by=principal.user if getattr(principal.user, "pk", None) else None,
                creation_timestamp=ts,
                last_updated_timestamp=ts,
            )
    except IntegrityError as exc:
        raise AlreadyExists(f"Registered Model (name={name}) already exists.") from exc
    RegisteredModelTag.objects.bulk_create(
        [RegisteredModelTag(model=model, key=k, value=v) for k, v in clean_tags.items()]
    )
    _set_owner_tag(model, team)
    if team is None and getattr(principal.user, "pk", None):
        # No owning team: like MLflow, the creator gets manage, or they could not touch their own model.
        replace_grants(model, [("user", principal.user, "manage")])
    _audit(
        principal,
        tenant=tenant,
        action="registered_model.created",
        obj=model,
        model=model,
        after={
            "name": name,
            "owner_team": team.slug if team else None,
            "description": description,
            "tags": clean_tags,
        },
    )
    return model


@transaction.atomic(durable=True)
def registered_model_update(
    *, principal: Principal, model: RegisteredModel, description: str
) -> RegisteredModel:
    model = _lock_model(principal, model)
    require(principal, model, "edit", action="update the model")
    description = _description(description)
    before = model.description
    model.description = description
    model.last_updated_timestamp = now_ms()
    model.save(update_fields=["description", "last_updated_timestamp"])
    _audit(
        principal,
        tenant=principal.tenant,
        action="registered_model.updated",
        obj=model,
        model=model,
        before={"description": before},
        after={"description": description},
    )
    return model


@transaction.atomic(durable=True)
def registered_model_rename(
    *, principal: Principal, model: RegisteredModel, new_name: str
) -> RegisteredModel:
    model = _lock_model(principal, model)
    require(principal, model, "manage", action="rename the model")
    new_name = validate_model_name(new_name, field="new_name")
    old = model.name
    if new_name == old:
        return model
    model.name = new_name
    model.last_updated_timestamp = now_ms()
    try:
        with transaction.atomic():
            model.save(update_fields=["name", "last_updated_timestamp"])
    except IntegrityError as exc:
        raise AlreadyExists(f"Registered Model (name={new_name}) already exists.") from exc
    _audit(
        principal,
        tenant=principal.tenant,
        action="registered_model.renamed",
        obj=model,
        model=model,
        before={"name": old},
        after={"name": new_name},
    )
    return model


@transaction.atomic(durable=True)
def registered_model_delete(*, principal: Principal, model: RegisteredModel) -> None:
    model = _lock_model(principal, model)
    require(principal, model, "manage", action="delete the model")
    versions = list(ModelVersion.objects.filter(model=model).values_list("version", flat=True))
    # Audited before the delete so the event keeps the model's id; the same transaction commits both.
    _audit(
        principal,
        tenant=principal.tenant,
        action="registered_model.deleted",
        obj=model,
        model=model,
        before={"name": model.name, "versions": sorted(versions)},
    )
    model.delete()


@transaction.atomic(durable=True)
def registered_model_set_tag(*, principal: Principal, model: RegisteredModel, key: str, value: str) -> None:
    key, value = validate_tag(key, value)
    model = _lock_model(principal, model)
    if key == OWNER_TEAM_TAG:
        require(principal, model, "manage", action="change the owner team")
        if not value:
            raise InvalidParameter(
                "The 'owner_team' tag names the owning team: give a team slug of this tenant."
            )
        _set_owner(principal, model, _team_in_tenant(principal.tenant, value))
        return
    require(principal, model, "manage" if is_ownership_tag(key) else "edit", action=f"set tag '{key}'")
    tag = RegisteredModelTag.objects.filter(model=model, key=key).first()
    before = tag.value if tag else None
    if tag is None:
        RegisteredModelTag.objects.create(model=model, key=key, value=value)
    elif tag.value != value:
        tag.value = value
        tag.save(update_fields=["value"])
    _touch(model)
    _audit(
        principal,
        tenant=principal.tenant,
        action="registered_model.tag_set",
        obj=model,
        model=model,
        before={"key": key, "value": before},
        after={"key": key, "value": value},
    )


@transaction.atomic(durable=True)
def registered_model_delete_tag(*, principal: Principal, model: RegisteredModel, key: str) -> None:
    key, _ = validate_tag(key, check_value=False)
    model = _lock_model(principal, model)
    require(principal, model, "manage" if is_ownership_tag(key) else "edit", action=f"delete tag '{key}'")
    if key == OWNER_TEAM_TAG:
        raise InvalidParameter(
            "The 'owner_team' tag is system-managed: change the model's owner team instead."
        )
    tag = RegisteredModelTag.objects.filter(model=model, key=key).first()
    if tag is None:
        # MLflow answers 404 for a missing registered-model tag.
        raise NotFound(f"No tag with name: {key} in registered model {model.name}.")
    before = tag.value
    tag.delete()
    _touch(model)
    _audit(
        principal,
        tenant=principal.tenant,
        action="registered_model.tag_deleted",
        obj=model,
        model=model,
        before={"key": key, "value": before},
    )


def _set_owner(principal: Principal, model: RegisteredModel, team: Team | None) -> RegisteredModel:
    before = model.owner_team.slug if model.owner_team_id else None
    if model.owner_team_id == (team.pk if team else None):
        return model
    model.owner_team = team
    model.last_updated_timestamp = now_ms()
    model.save(update_fields=["owner_team", "last_updated_timestamp"])
    _set_owner_tag(model, team)
    _audit(
        principal,
        tenant=principal.tenant,
        action="registered_model.owner_changed",
        obj=model,
        model=model,
        before={"owner_team": before},
        after={"owner_team": team.slug if team else None},
    )
    return model


@transaction.atomic(durable=True)
def registered_model_set_owner(
    *, principal: Principal, model: RegisteredModel, team: Team | str | None
) -> RegisteredModel:
    model = _lock_model(principal, model)
    require(principal, model, "manage", action="change the owner team")
    return _set_owner(principal, model, _team_in_tenant(principal.tenant, team))


@transaction.atomic(durable=True)
def registered_model_set_grants(
    *, principal: Principal, model: RegisteredModel, grants: list[dict]
) -> list[dict]:
    model = _lock_model(principal, model)
    require(principal, model, "manage", action="change permissions")
    parsed = parse_grants(principal.tenant, grants)
    before = grants_of(model)
    replace_grants(model, parsed)
    after = grants_of(model)
    _audit(
        principal,
        tenant=principal.tenant,
        action="registered_model.grants_replaced",
        obj=model,
        model=model,
        before={"grants": before},
        after={"grants": after},
    )
    return after


# --- model versions ----------------------------------------------------------------------------------------------


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


def _resolve_source(principal: Principal, source: str, run_id: str | None, model_id: str | None):
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
            .filter(tenant=tenant, model_id=mid)
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
        run = Run.objects.select_related("experiment").filter(tenant=tenant, run_id=rid).first()
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
            Experiment.objects.filter(tenant=tenant, number=int(first)).first()
            if ascii_digits(first) and len(first) < 19
            else None
        )
        if experiment is None or not readable_experiment(experiment):
            raise bad
    else:
        raise bad

    if run_id:
        given = (
            Run.objects.filter(tenant=tenant, run_id=str(run_id)).first()
            if is_storable(str(run_id))
            else None
        )
        if given is None:
            raise InvalidParameter(f"Run with id={run_id} not found")
        run = given
    return source_path.rstrip("/"), run, logged_model


def _enqueue_registration(version_id: int) -> None:
    from .tasks import register_model_version

    try:
        register_model_version.delay(version_id)
    except (
        Exception
    ):  # the broker is down: the version stays PENDING; `requeue_pending_registrations` recovers it
        logger.exception("could not enqueue registration of model version %s", version_id)


@transaction.atomic(durable=True)
def model_version_create(
    *,
    principal: Principal,
    model: RegisteredModel,
    source: str,
    run_id: str | None = None,
    description: str = "",
    tags: dict[str, str] | None = None,
    run_link: str = "",
    model_id: str | None = None,
) -> ModelVersion:
    if not isinstance(source, str) or not source:
        raise InvalidParameter("Missing value for required parameter 'source'.")
    if len(source) > 1000:
        raise InvalidParameter("'source' is longer than 1000 characters.")
    check_text(source, "source")
    run_link = check_text(str(run_link or ""), "run_link")
    description = _description(description)
    clean_tags = dict(validate_tag(k, v) for k, v in (tags or {}).items())
    # Parent row first: the version counter lives on it, so numbers are allocated one at a time, never reused.
    model = _lock_model(principal, model)
    require(principal, model, "edit", action="create a model version")
    source_path, run, logged_model = _resolve_source(principal, source, run_id, model_id)
    ts = now_ms()
    model.last_version += 1
    model.last_updated_timestamp = ts
    model.save(update_fields=["last_version", "last_updated_timestamp"])
    version = ModelVersion.objects.create(
        model=model,
        version=model.last_version,
        status=VersionStatus.PENDING_REGISTRATION,
        description=description,
        source=source,
        source_path=source_path,
        run_id=run.run_id if run is not None else "",
        source_run=run,
        logged_model=logged_model,
        run_link=str(run_link or "")[:1000],
        created_by=principal.user if getattr(principal.user, "pk", None) else None,
        user_label=_actor_label(principal),
        creation_timestamp=ts,
        last_updated_timestamp=ts,
    )
    ModelVersionTag.objects.bulk_create(
        [ModelVersionTag(version=version, key=k, value=v) for k, v in clean_tags.items()]
    )
    _audit(
        principal,
        tenant=principal.tenant,
        action="model_version.created",
        obj=version,
        model=model,
        version=version.version,
        after={
            "version": version.version,
            "source": source,
            "source_path": source_path,
            "run_id": version.run_id,
            "status": version.status,
        },
    )
    version_pk = version.pk
    transaction.on_commit(lambda: _enqueue_registration(version_pk))
    return version


@transaction.atomic(durable=True)
def model_version_update(*, principal: Principal, version: ModelVersion, description: str) -> ModelVersion:
    model, version = _lock_version(principal, version)
    require(principal, model, "edit", action="update the model version")
    description = _description(description)
    before = version.description
    version.description = description
    version.last_updated_timestamp = now_ms()
    version.save(update_fields=["description", "last_updated_timestamp"])
    _audit(
        principal,
        tenant=principal.tenant,
        action="model_version.updated",
        obj=version,
        model=model,
        version=version.version,
        before={"description": before},
        after={"description": description},
    )
    return version


@transaction.atomic(durable=True)
def model_version_delete(*, principal: Principal, version: ModelVersion) -> None:
    model, version = _lock_version(principal, version)
    require(principal, model, "manage", action="delete the model version")
    aliases = list(ModelAlias.objects.filter(version=version).values_list("alias", flat=True))
    _audit(
        principal,
        tenant=principal.tenant,
        action="model_version.deleted",
        obj=version,
        model=model,
        version=version.version,
        before={
            **_version_snapshot(version),
            "aliases": sorted(aliases),
            "manifest_sha256": version.manifest_sha256,
        },
    )
    version.delete()  # cascades to its tags, files and aliases; the model's counter never goes back
    _touch(model)


@transaction.atomic(durable=True)
def model_version_set_tag(*, principal: Principal, version: ModelVersion, key: str, value: str) -> None:
    key, value = validate_tag(key, value)
    model, version = _lock_version(principal, version)
    require(principal, model, "manage" if is_ownership_tag(key) else "edit", action=f"set tag '{key}'")
    tag = ModelVersionTag.objects.filter(version=version, key=key).first()
    before = tag.value if tag else None
    if tag is None:
        ModelVersionTag.objects.create(version=version, key=key, value=value)
    elif tag.value != value:
        tag.value = value
        tag.save(update_fields=["value"])
    version.last_updated_timestamp = now_ms()
    version.save(update_fields=["last_updated_timestamp"])
    _audit(
        principal,
        tenant=principal.tenant,
        action="model_version.tag_set",
        obj=version,
        model=model,
        version=version.version,
        before={"key": key, "value": before},
        after={"key": key, "value": value},
    )


@transaction.atomic(durable=True)
def model_version_delete_tag(*, principal: Principal, version: ModelVersion, key: str) -> None:
    key, _ = validate_tag(key, check_value=False)
    model, version = _lock_version(principal, version)
    require(principal, model, "manage" if is_ownership_tag(key) else "edit", action=f"delete tag '{key}'")
    tag = ModelVersionTag.objects.filter(version=version, key=key).first()
    if tag is None:
        raise NotFound(
            f"No tag with name: {key} in model version (name={model.name}, version={version.version})."
        )
    before = tag.value
    tag.delete()
    version.last_updated_timestamp = now_ms()
    version.save(update_fields=["last_updated_timestamp"])
    _audit(
        principal,
        tenant=principal.tenant,
        action="model_version.tag_deleted",
        obj=version,
        model=model,
        version=version.version,
        before={"key": key, "value": before},
    )


def stage_level(from_stage: str, to_stage: str) -> str:
    """Production, to or from, needs manage_production; moves among None, Staging and Archived manage_staging."""
    return "manage_production" if Stage.PRODUCTION in (from_stage, to_stage) else "manage_staging"


@transaction.atomic(durable=True)
def model_version_transition_stage(
    *,
    principal: Principal,
    version: ModelVersion,
    stage: str,
    archive_existing_versions: bool = False,
    expected_stage: str | None = None,
    comment: str = "",
) -> ModelVersion:
    stage = canonical_stage(stage)
    expected = canonical_stage(expected_stage) if expected_stage not in (None, "") else None
    # The model row lock serialises every stage change of this model, so "archive the others" sees every version
    # that is in the target stage and no concurrent promotion can slip a second Production in.
    model, version = _lock_version(principal, version)
    require(principal, model, stage_level(version.stage, stage), action=f"move the version to {stage}")
    if archive_existing_versions and stage not in (Stage.STAGING, Stage.PRODUCTION):
        raise InvalidParameter(
            f"Model version transition cannot archive existing model versions because "
            f"'{stage}' is not an Active stage. Valid stages are Staging and Production."
        )
    if expected is not None and version.stage != expected:
        raise Conflict(
            f"Model Version (name={model.name}, version={version.version}) is in stage "
            f"'{version.stage}', not the expected '{expected}'.",
            details={"current_stage": version.stage},
        )
    if version.status != VersionStatus.READY:
        raise Conflict(
            f"Model Version (name={model.name}, version={version.version}) is {version.status}: "
            f"only READY versions can change stage."
        )
    ts = now_ms()
    archived: list[ModelVersion] = []
    if archive_existing_versions:
        others = (
            ModelVersion.objects.select_for_update().filter(model=model, stage=stage).exclude(pk=version.pk)
        )
        for other in others.order_by("version"):
            other.stage = Stage.ARCHIVED
            other.last_updated_timestamp = ts
            other.save(update_fields=["stage", "last_updated_timestamp"])
            archived.append(other)
    before = version.stage
    version.stage = stage
    version.last_updated_timestamp = ts
    version.save(update_fields=["stage", "last_updated_timestamp"])
    _touch(model, ts)
    for other in archived:
        _audit(
            principal,
            tenant=principal.tenant,
            action="model_version.stage_changed",
            obj=other,
            model=model,
            version=other.version,
            before={"stage": stage},
            after={"stage": Stage.ARCHIVED, "archived_by": {"version": version.version, "stage": stage}},
        )
    _audit(
        principal,
        tenant=principal.tenant,
        action="model_version.stage_changed",
        obj=version,
        model=model,
        version=version.version,
        before={"stage": before},
        after={
            "stage": stage,
            "archive_existing_versions": bool(archive_existing_versions),
            "archived_versions": [o.version for o in archived],
            "comment": comment or "",
        },
    )
    return version


# --- aliases -----------------------------------------------------------------------------------------------------


def _parse_expected_version(expected_version: Any) -> int | None | str:
    """None: don't care. "" or 0: the alias must not exist yet ("absent"). N: it must point to version N."""
    if expected_version is None:
        return None
    if expected_version in ("", 0, "0"):
        return "absent"
    return parse_version_number(expected_version)


def _check_expected(model: RegisteredModel, alias: str, current: ModelAlias | None, expected) -> None:
    if expected is None:
        return
    have = current.version.version if current is not None else None
    if expected == "absent" and have is None:
        return
    if expected != "absent" and have == expected:
        return
    want = "absent" if expected == "absent" else f"version {expected}"
    now = "absent" if have is None else f"version {have}"
    raise Conflict(
        f"Alias '{alias}' of registered model '{model.name}' is {now}, not the expected {want}.",
        details={"current_version": str(have) if have is not None else None},
    )


def _alias_level(tenant: Tenant, alias: str) -> str:
    return "manage_production" if is_protected_alias(tenant, alias) else "edit"


@transaction.atomic(durable=True)
def alias_set(
    *, principal: Principal, model: RegisteredModel, alias: str, version: Any, expected_version: Any = None
) -> ModelAlias:
    alias = validate_alias(alias)
    number = version.version if isinstance(version, ModelVersion) else parse_version_number(version)
    expected = _parse_expected_version(expected_version)
    model = _lock_model(principal, model)
    # Protected aliases need manage_production, whose scope is `promote`.
    require(principal, model, _alias_level(principal.tenant, alias), action=f"move alias '{alias}'")
    target = ModelVersion.objects.filter(model=model, version=number).first()
    if target is None:
        raise NotFound(f"Model Version (name={model.name}, version={number}) not found")
    if target.status != VersionStatus.READY:
        raise Conflict(
            f"Model Version (name={model.name}, version={number}) is {target.status}: only READY "
            f"versions can carry an alias."
        )
    current = (
        ModelAlias.objects.select_for_update()
        .select_related("version")
        .filter(model=model, alias=alias)
        .first()
    )
    _check_expected(model, alias, current, expected)
    before = current.version.version if current is not None else None
    user = principal.user if getattr(principal.user, "pk", None) else None
    if current is None:
        current = ModelAlias.objects.create(model=model, alias=alias, version=target, updated_by=user)
    else:
        current.version = target
        current.updated_by = user
        current.save(update_fields=["version", "updated_by", "updated_at"])
    _touch(model)
    _audit(
        principal,
        tenant=principal.tenant,
        action="model_version_alias.set",
        obj=current,
        model=model,
        version=number,
        before={"alias": alias, "version": before},
        after={"alias": alias, "version": number},
    )
    return current


@transaction.atomic(durable=True)
def alias_delete(
    *, principal: Principal, model: RegisteredModel, alias: str, expected_version: Any = None
) -> None:
    alias = validate_alias(alias)
    expected = _parse_expected_version(expected_version)
    model = _lock_model(principal, model)
    require(principal, model, _alias_level(principal.tenant, alias), action=f"delete alias '{alias}'")
    current = (
        ModelAlias.objects.select_for_update()
        .select_related("version")
        .filter(model=model, alias=alias)
        .first()
    )
    _check_expected(model, alias, current, expected)
    if current is None:
        return  # MLflow: deleting a missing alias is a no-op
    before = current.version.version
    _audit(
        principal,
        tenant=principal.tenant,
        action="model_version_alias.deleted",
        obj=current,
        model=model,
        version=before,
        before={"alias": alias, "version": before},
    )
    current.delete()
    _touch(model)


# --- registration (the worker's side) ----------------------------------------------------------------------------


@transaction.atomic(durable=True)
def registration_finalize(*, version_id: int) -> str | None:
    """Snapshot the source's files into the version's manifest and mark it READY (FAILED_REGISTRATION when there is
    nothing to snapshot). Returns the resulting status, or None when the version is gone.

    Idempotent: the status guard runs under the model and version row locks, so a second run (a duplicate
    delivery, or a redelivery after a worker died mid-way, whose uncommitted work PostgreSQL rolled back) finds
    the version no longer PENDING and changes nothing. Blobs are content-addressed and immutable, so the snapshot is
    rows pointing at them: later writes to the run's artifacts replace ArtifactEntry rows, never these."""
    from registry.tracking.models import ArtifactEntry

    row = ModelVersion.objects.filter(pk=version_id).values("model_id").first()
    if row is None:
        return None
    model = (
        RegisteredModel.objects.select_for_update(of=("self",))
        .select_related("tenant")
        .filter(pk=row["model_id"])
        .first()
    )
    version = ModelVersion.objects.select_for_update().filter(pk=version_id).first()
    if model is None or version is None:
        return None
    if version.status != VersionStatus.PENDING_REGISTRATION:
        return version.status
    tenant = model.tenant
    prefix = version.source_path.rstrip("/")
    entries = (
        list(
            ArtifactEntry.objects.filter(tenant=tenant, path__startswith=prefix + "/").values_list(
                "path", "blob_id", "sha256", "size"
            )
        )
        if prefix
        else []
    )
    if not entries and prefix:
        single = (
            ArtifactEntry.objects.filter(tenant=tenant, path=prefix)
            .values_list("path", "blob_id", "sha256", "size")
            .first()
        )
        if single is not None:  # the source names one file: it becomes the snapshot's only file
            entries = [single]
            prefix = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
    ts = now_ms()
    if not entries:
        version.status = VersionStatus.FAILED_REGISTRATION
        version.status_message = f"No files found at the source '{version.source}'."
        version.last_updated_timestamp = ts
        version.save(update_fields=["status", "status_message", "last_updated_timestamp"])
        events.emit(
            tenant=tenant,
            actor=None,
            action="model_version.registration_failed",
            obj=version,
            model_id=model.pk,
            version=version.version,
            after={"status": version.status, "status_message": version.status_message},
        )
        return version.status
    strip = len(prefix) + 1 if prefix else 0
    files = [
        ModelVersionFile(version=version, path=path[strip:], blob_id=blob_id, sha256=sha, size=size)
        for path, blob_id, sha, size in entries
    ]
    # A killed earlier attempt never committed, but clear defensively so the manifest is exactly this snapshot.
    ModelVersionFile.objects.filter(version=version).delete()
    ModelVersionFile.objects.bulk_create(files)
    version.manifest_sha256 = manifest_sha256((f.path, f.size, f.sha256) for f in files)
    version.status = VersionStatus.READY
    version.status_message = ""
    version.last_updated_timestamp = ts
    version.save(update_fields=["manifest_sha256", "status", "status_message", "last_updated_timestamp"])
    events.emit(
        tenant=tenant,
        actor=None,
        action="model_version.ready",
        obj=version,
        model_id=model.pk,
        version=version.version,
        after={
            "status": version.status,
            "manifest_sha256": version.manifest_sha256,
            "files": len(files),
            "bytes": sum(f.size for f in files),
        },
    )
    return version.status
