"""Reads for the model registry. Every query starts from the principal's tenant; a model the caller may not read
answers exactly like a missing one (404 `RESOURCE_DOES_NOT_EXIST`)."""

from __future__ import annotations

import json
import time
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet, prefetch_related_objects

from config import sqlrows
from config.errors import InvalidParameter, NotFound
from config.validation import is_storable
from tenants.access import Principal

from . import readiness, search
from .latest import attach_latest, latest_queryset
from .models import (
    ModelAlias,
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelTag,
    Stage,
    VersionStatus,
)
from .permissions import allows, readable, require
from .validation import STAGES, canonical_stage, parse_version_number

MODELS_MAX_RESULTS = 1000
MODELS_DEFAULT_RESULTS = 100
VERSIONS_MAX_RESULTS = 200_000
# MLflow's REST server answers up to 200,000 versions when `max_results` is not given: the proto default of
# SearchModelVersions.max_results (mlflow/protos/model_registry.proto), not the Python client's 10,000.
VERSIONS_DEFAULT_RESULTS = 200_000


def _model_not_found(name: str) -> NotFound:
    return NotFound(f"Registered Model with name={name} not found")


def model_ref(principal: Principal, name: str) -> RegisteredModel:
    """The caller's readable model by name, its own row only (no owner team, no tenant row): for a write that
    re-reads the row under its lock anyway (`model_version_create`). Same 400/404 answers as `model_get`. Plain
    SQL: on the create path the ORM's compile cost more CPU than the lookup (issue 9)."""
    if not isinstance(name, str) or not name:
        raise InvalidParameter("Missing value for required parameter 'name'.")
    if not is_storable(name):
        raise _model_not_found(name)
    names = sqlrows.fields_of(RegisteredModel)
    sql = (
        f"SELECT {sqlrows.select_list(RegisteredModel, names)} FROM {sqlrows.qn(RegisteredModel._meta.db_table)} "
        f"WHERE {sqlrows.qn('tenant_id')} = %s AND {sqlrows.qn('name')} = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [principal.tenant.pk, name])
        row = cursor.fetchone()
    model = None if row is None else sqlrows.instance(RegisteredModel, names, row)
    if model is None or not allows(principal, model, "read"):
        raise _model_not_found(name)
    model.tenant = principal.tenant
    return model


def _version_not_found(name: str, version: Any) -> NotFound:
    return NotFound(f"Model Version (name={name}, version={version}) not found")


def model_get(principal: Principal, name: str) -> RegisteredModel:
    """The caller's model by name; missing and unreadable give the same 404."""
    if not isinstance(name, str) or not name:
        raise InvalidParameter("Missing value for required parameter 'name'.")
    if not is_storable(name):  # NUL: no model can have that name (and PostgreSQL would refuse the query)
        raise _model_not_found(name)
    model = (
        RegisteredModel.objects.select_related("owner_team", "tenant")
        .for_tenant(principal.tenant)
        .filter(name=name)
        .first()
    )
    if model is None or not allows(principal, model, "read"):
        raise _model_not_found(name)
    return model


def _with_output_relations(qs: QuerySet) -> QuerySet:
    """What rendering a version reads (its model, tags, aliases), fetched with it."""
    return qs.select_related("model__owner_team").prefetch_related(
        "tags", Prefetch("aliases", queryset=ModelAlias.objects.order_by("alias"))
    )


def version_get(principal: Principal, name: str, version: Any) -> ModelVersion:
    """A version by model name and number: model and version in one query (the hot serving path); the model
    alone is only looked up to tell a missing model from a missing version."""
    number = parse_version_number(version)
    found = None
    if isinstance(name, str) and name and is_storable(name):
        found = _with_output_relations(
            ModelVersion.objects.filter(model__tenant=principal.tenant, model__name=name, version=number)
        ).first()
    if found is None or not allows(principal, found.model, "read"):
        model_get(principal, name)  # raises the model's 404 (or the 400 for a missing name)
        raise _version_not_found(name, number)
    found.model.tenant = principal.tenant
    return found


def version_by_alias(principal: Principal, name: str, alias: str) -> ModelVersion:
    """The version an alias points to. An unknown alias is MLflow's 400 (not a 404)."""
    row = None
    if isinstance(name, str) and name and is_storable(name) and isinstance(alias, str) and is_storable(alias):
        # Model, alias and version in one query (the hot serving path); on a miss, `model_get` tells a missing
        # model (404) from a missing alias (400).
        row = (
            ModelAlias.objects.filter(model__tenant=principal.tenant, model__name=name, alias=alias)
            .select_related("model__owner_team", "version")
            .prefetch_related(
                "version__tags", Prefetch("version__aliases", queryset=ModelAlias.objects.order_by("alias"))
            )
            .first()
        )
    if row is None or not allows(principal, row.model, "read"):
        model_get(principal, name)
        if not isinstance(alias, str) or not alias:
            raise InvalidParameter("Registered model alias name cannot be empty.")
        raise InvalidParameter(f"Registered model alias {alias} not found.")
    version = row.version
    version.model = row.model
    version.model.tenant = principal.tenant
    return version


def latest_versions(
    principal: Principal, model: RegisteredModel, stages: list[str] | None = None, *, ready_only: bool = True
) -> list[ModelVersion]:
    """The newest version in each requested stage (all four when `stages` is empty), ordered by version.
    Stage names are matched case-insensitively; an unknown one is a 400."""
    require(principal, model, "read")
    wanted = [canonical_stage(s) for s in stages] if stages else list(STAGES)
    newest = list(
        latest_queryset([model.pk], wanted, ready_only=ready_only)
        .prefetch_related("tags", Prefetch("aliases", queryset=ModelAlias.objects.order_by("alias")))
        .order_by("version")
    )
    for version in newest:
        version.model = model
    return newest


def version_aliases(version: ModelVersion) -> list[str]:
    cached = getattr(version, "_prefetched_objects_cache", {}).get("aliases")
    rows = cached if cached is not None else version.aliases.all()
    return sorted(a.alias for a in rows)


def download_uri(version: ModelVersion) -> str:
    """Where a version's immutable snapshot is served (the artifact routes read it from ModelVersionFile), so
    later writes to the run's or logged model's artifacts can never change what a version downloads."""
    return f"mlflow-artifacts:/_registry/{version.model_id}/{version.version}"


def _version_with_tags_and_aliases(pk: int) -> ModelVersion | None:
    """The version row with its tags and aliases attached as if prefetched: one statement on PostgreSQL (the JSON
    aggregates of both in the version's SELECT) instead of three ORM queries, for the answer to every create."""
    if connection.vendor != "postgresql":
        return ModelVersion.objects.filter(pk=pk).first()
    qn = sqlrows.qn
    fields = sqlrows.fields_of(ModelVersion)
    tags, aliases = qn(ModelVersionTag._meta.db_table), qn(ModelAlias._meta.db_table)
    sql = (
        f"SELECT {sqlrows.select_list(ModelVersion, fields, 'v')}, "
        f"(SELECT json_agg(json_build_array(t.{qn('key')}, t.{qn('value')}))::text FROM {tags} t "
        f"WHERE t.{qn('version_id')} = v.{qn('id')}), "
        f"(SELECT json_agg(a.{qn('alias')})::text FROM {aliases} a WHERE a.{qn('version_id')} = v.{qn('id')}) "
        f"FROM {qn(ModelVersion._meta.db_table)} v WHERE v.{qn('id')} = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [pk])
        row = cursor.fetchone()
    if row is None:
        return None
    fresh = sqlrows.instance(ModelVersion, fields, row[: len(fields)])
    tag_rows = fresh.tags.all()  # no query: filled in below, as prefetch_related would
    tag_rows._result_cache = [
        ModelVersionTag(version=fresh, key=k, value=v) for k, v in json.loads(row[-2] or "[]")
    ]
    tag_rows._prefetch_done = True  # type: ignore[attr-defined]
    alias_rows = fresh.aliases.all()
    alias_rows._result_cache = [
        ModelAlias(version=fresh, model_id=fresh.model_id, alias=a) for a in json.loads(row[-1] or "[]")
    ]
    alias_rows._prefetch_done = True  # type: ignore[attr-defined]
    fresh._prefetched_objects_cache = {"tags": tag_rows, "aliases": alias_rows}  # type: ignore[attr-defined]
    return fresh


def wait_until_registered(version: ModelVersion, timeout: float | None = None) -> ModelVersion:
    """Wait until the worker finishes a PENDING_REGISTRATION version or `timeout` passes, then return it fresh.

    Why: the MLflow client reads PENDING_REGISTRATION, asks once more, then sleeps
    `AWAIT_MODEL_VERSION_CREATE_SLEEP_INTERVAL_SECONDS = 3` s between polls (mlflow/store/model_registry/
    abstract_store.py, `_await_model_version_creation_impl`), so an answer that says PENDING costs the user at
    least 3 s. The worker usually finishes in tens of milliseconds. On PostgreSQL its commit is announced with
    NOTIFY and this thread sleeps until then (`registry.readiness`: no polling, one read at the end); elsewhere
    (SQLite under `make run`), or when the listener is unavailable, it polls the row in short sleeps (20 ms, growing
    to 100 ms). Bounded by `MODELGATE["REGISTRATION_WAIT_SECONDS"]`. Inside an open transaction the worker's commit
    is invisible (and the task is only enqueued on commit), so waiting would be pointless: answer at once."""
    if version.status != VersionStatus.PENDING_REGISTRATION or connection.in_atomic_block:
        return version
    from registry.services.registration import publish_failed

    if publish_failed(version.pk):  # the broker is down: nothing will finish it soon (reliability)
        return version
    timeout = settings.MODELGATE["REGISTRATION_WAIT_SECONDS"] if timeout is None else timeout
    deadline = time.monotonic() + max(0.0, float(timeout))

    def still_pending() -> bool:
        return ModelVersion.objects.filter(pk=version.pk, status=VersionStatus.PENDING_REGISTRATION).exists()

    if readiness.supported():
        readiness.wait_for_notification(
            version.pk,
            created_ms=version.creation_timestamp,
            deadline=deadline,
            still_pending=still_pending,
        )
    delay = 0.02
    while True:
        fresh = _version_with_tags_and_aliases(version.pk)
        if fresh is None:
            return version
        if fresh.status != VersionStatus.PENDING_REGISTRATION or time.monotonic() >= deadline:
            fresh.model = version.model
            return fresh
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 1.5, 0.1)


def resolve(
    principal: Principal,
    model: RegisteredModel,
    *,
    alias: str | None = None,
    stage: str | None = None,
    version: Any = None,
) -> dict[str, Any]:
    """`models:/name@alias`, `models:/name/Stage` or `models:/name/N` → what serving needs to fetch it."""
    require(principal, model, "read")
    given = [x for x in (alias, stage, version) if x not in (None, "")]
    if len(given) != 1:
        raise InvalidParameter("Give exactly one of 'alias', 'stage' or 'version'.")
    # The model is found and readable: each branch is one query on it, plus one for the version's aliases.
    found: ModelVersion | None
    if alias not in (None, ""):
        if not isinstance(alias, str):
            raise InvalidParameter("Registered model alias name cannot be empty.")
        row = (
            ModelAlias.objects.filter(model=model, alias=alias).select_related("version").first()
            if is_storable(alias)
            else None
        )
        if row is None:
            raise InvalidParameter(f"Registered model alias {alias} not found.")
        found = row.version
    elif stage not in (None, ""):
        if str(stage).lower() == "latest":
            candidates = ModelVersion.objects.filter(model=model, status=VersionStatus.READY)
            found = candidates.order_by("-version").first()
        else:
            found = latest_queryset([model.pk], [canonical_stage(stage)], ready_only=True).first()
        if found is None:
            raise NotFound(f"No versions of model with name '{model.name}' and stage '{stage}' found")
    else:
        number = parse_version_number(version)
        found = ModelVersion.objects.filter(model=model, version=number).first()
        if found is None:
            raise _version_not_found(model.name, number)
    found.model = model
    return {
        "name": model.name,
        "version": str(found.version),
        "stage": found.stage,
        "aliases": version_aliases(found),
        "status": found.status,
        "download_uri": download_uri(found),
        "manifest_sha256": found.manifest_sha256 or None,
    }


def manifest(version: ModelVersion) -> list[dict[str, Any]]:
    """The version's files: `[{"path", "size", "sha256"}]` sorted by path."""
    return [
        {"path": path, "size": size, "sha256": sha}
        for path, size, sha in version.files.order_by("path").values_list("path", "size", "sha256")
    ]


# --- search ------------------------------------------------------------------------------------------------------


def _tag_condition(tag_model, fk: str, clause: search.Clause) -> Q:
    """A tag clause with MLflow's join semantics: only entities that have the tag can match (`!=` included)."""
    tags = tag_model.objects.filter(**{fk: OuterRef("pk")}, key=clause.key)
    tags = tags.filter(search.string_q("value", clause.op, clause.value))
    return Q(Exists(tags))


def _models_with_relations(qs: QuerySet) -> QuerySet:
    return qs.select_related("owner_team").prefetch_related(
        "tags",
        Prefetch("aliases", queryset=ModelAlias.objects.select_related("version").order_by("alias")),
    )


def models_search(
    principal: Principal,
    filter_string: str | None = None,
    order_by: list[str] | None = None,
    max_results: Any = None,
    page_token: Any = None,
) -> tuple[list[RegisteredModel], str | None]:
    """MLflow's search-registered-models over what the caller may read. Returns (models, next_page_token)."""
    limit = search.page_size(max_results, default=MODELS_DEFAULT_RESULTS, maximum=MODELS_MAX_RESULTS)
    offset = search.decode_page_token(page_token)
    clauses, exclude_prompts = search.split_prompt_clause(
        search.parse_filter(filter_string, "registered_models")
    )
    orders = search.parse_order_by(order_by, "registered_models")
    qs = readable(principal, RegisteredModel.objects.all())
    for clause in clauses:
        if clause.entity == "tag":
            qs = qs.filter(_tag_condition(RegisteredModelTag, "model", clause))
        else:
            qs = qs.filter(search.string_q("name", clause.op, clause.value))
    if exclude_prompts:
        # "Exclude prompts": models *without* the prompt tag match, unlike the usual tag `!=` join semantics.
        qs = qs.exclude(
            Exists(
                RegisteredModelTag.objects.filter(
                    model=OuterRef("pk"), key=search.PROMPT_TAG, value__iexact="true"
                )
            )
        )
    ordering: list[str] = []
    for order in orders:
        field = order.key
        ordering.append(field if order.ascending else f"-{field}")
    if "name" not in [o.lstrip("-") for o in ordering]:
        ordering.append("name")  # name ASC breaks ties, as in MLflow
    models, token = search.page(_models_with_relations(qs.order_by(*ordering, "pk")), offset, limit)
    attach_latest(models)  # latest versions of the whole page in one query, never every version
    return models, token


def versions_search(
    principal: Principal,
    filter_string: str | None = None,
    order_by: list[str] | None = None,
    max_results: Any = None,
    page_token: Any = None,
) -> tuple[list[ModelVersion], str | None]:
    """MLflow's search-model-versions over the versions of models the caller may read."""
    limit = search.page_size(max_results, default=VERSIONS_DEFAULT_RESULTS, maximum=VERSIONS_MAX_RESULTS)
    offset = search.decode_page_token(page_token)
    clauses = search.parse_filter(filter_string, "model_versions")
    orders = search.parse_order_by(order_by, "model_versions")
    models = readable(principal, RegisteredModel.objects.all())
    qs = ModelVersion.objects.filter(model__in=models)
    # MLflow's server never lists prompt versions in a model-version search.
    qs = qs.exclude(
        Exists(
            RegisteredModelTag.objects.filter(
                model=OuterRef("model_id"), key=search.PROMPT_TAG, value__iexact="true"
            )
        )
    )
    fields = {
        "name": "model__name",
        "run_id": "run_id",
        "source_path": "source",
        "version_number": "version",
        "creation_timestamp": "creation_timestamp",
        "last_updated_timestamp": "last_updated_timestamp",
    }
    for clause in clauses:
        if clause.entity == "tag":
            qs = qs.filter(_tag_condition(ModelVersionTag, "version", clause))
        elif clause.key == "version_number":
            qs = qs.filter(search.numeric_q("version", clause.op, clause.value))
        else:
            qs = qs.filter(search.string_q(fields[clause.key], clause.op, clause.value))
    ordering = [fields[o.key] if o.ascending else f"-{fields[o.key]}" for o in orders]
    if not ordering:
        ordering = ["model__name", "-version"]  # MLflow's default: name ASC, version DESC
    # MLflow's search answers carry no aliases: only the tags are fetched with the page.
    qs = qs.select_related("model").prefetch_related("tags")
    return search.page(qs.order_by(*ordering, "pk"), offset, limit)


def model_latest_from_prefetch(model: RegisteredModel) -> list[ModelVersion]:
    """Newest version per stage (any status, as MLflow's `latest_versions` field), as `attach_latest` set it
    (`model_with_relations`, `models_search`); one query when it was not attached."""
    if not hasattr(model, "latest_versions"):
        attach_latest([model])
    return list(model.latest_versions)  # type: ignore[attr-defined]


def model_for_output(principal: Principal, name: str) -> RegisteredModel:
    """`model_get` with what rendering it reads (tags, aliases, latest versions per stage) fetched onto it: a
    constant number of queries, however many versions it has. (On PostgreSQL `row_selectors.model_for_output`
    answers in one statement.)"""
    model = model_get(principal, name)
    prefetch_related_objects(
        [model],
        "tags",
        Prefetch("aliases", queryset=ModelAlias.objects.select_related("version").order_by("alias")),
    )
    attach_latest([model])
    return model


def model_with_relations(model: RegisteredModel) -> RegisteredModel:
    """Re-read a model with its tags, aliases and latest versions per stage (for rendering one model): a
    constant number of queries, however many versions it has."""
    found = _models_with_relations(RegisteredModel.objects.filter(pk=model.pk)).get()
    attach_latest([found])
    return found


__all__ = [
    "Stage",
    "download_uri",
    "latest_versions",
    "manifest",
    "model_get",
    "model_ref",
    "models_search",
    "resolve",
    "version_by_alias",
    "version_get",
    "versions_search",
    "wait_until_registered",
]
