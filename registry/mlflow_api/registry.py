"""MLflow model registry API (wire-contract.md §2c, §2d; shapes from §3 and traffic-3.17.2.jsonl).

Handlers parse MLflow's parameters, call registry services (writes, which check permissions themselves) and
selectors (reads), and render MLflow's JSON: ids and versions as strings, timestamps as integer ms, enums by name,
empty fields left out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connection

from registry import readcache, row_selectors, selectors, services, usage
from registry.models import ModelVersion, RegisteredModel
from registry.permissions import allows

from . import payloads
from .base import Call, route

# --- rendering ---------------------------------------------------------------------------------------------------


def _tags(rows) -> list[dict[str, str]]:
    return [{"key": t.key, "value": t.value} for t in sorted(rows, key=lambda t: t.key)]


def model_version_json(
    version: ModelVersion, *, with_aliases: bool = True, model_name: str | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": model_name or version.model.name,
        "version": str(version.version),
        "creation_timestamp": version.creation_timestamp,
        "last_updated_timestamp": version.last_updated_timestamp,
        "current_stage": version.stage,
        "description": version.description or "",
        "source": version.source,
        "run_id": version.run_id or "",
        "status": version.status,
        "run_link": version.run_link or "",
    }
    if version.user_label:
        data["user_id"] = version.user_label
    if version.status_message:
        data["status_message"] = version.status_message
    tags = _tags(version.tags.all())
    if tags:
        data["tags"] = tags
    if with_aliases:
        aliases = selectors.version_aliases(version)
        if aliases:
            data["aliases"] = aliases
    return data


def registered_model_json(model: RegisteredModel) -> dict[str, Any]:
    """One model; expects tags, aliases and latest versions attached (`selectors.model_with_relations`)."""
    data: dict[str, Any] = {
        "name": model.name,
        "creation_timestamp": model.creation_timestamp,
        "last_updated_timestamp": model.last_updated_timestamp,
    }
    if model.description:
        data["description"] = model.description
    latest = row_selectors.model_latest_rows(model)
    if latest:
        # MLflow leaves aliases out of `latest_versions`.
        data["latest_versions"] = [version_row_json(row) for row in latest]
    tags = _tags_of(model)
    if tags:
        data["tags"] = tags
    # `alias_pairs`/`tag_pairs`: annotated by `selectors.model_for_output` on PostgreSQL (no prefetch queries).
    pairs = getattr(model, "alias_pairs", None)
    if pairs is None:
        pairs = [(a.alias, str(a.version.version)) for a in model.aliases.all()]
    aliases = [{"alias": alias, "version": number} for alias, number in pairs]
    if aliases:
        data["aliases"] = sorted(aliases, key=lambda a: a["alias"])
    return data


def _tags_of(obj: RegisteredModel | ModelVersion) -> list[dict[str, str]]:
    """The tags of a model or version, from `tag_pairs` when the query annotated them, else `tags.all()`."""
    pairs = getattr(obj, "tag_pairs", None)
    if pairs is None:
        return _tags(obj.tags.all())
    return [{"key": k, "value": v} for k, v in sorted(pairs, key=lambda t: t[0])]


def _model_response(model: RegisteredModel) -> dict[str, Any]:
    return {"registered_model": registered_model_json(selectors.model_with_relations(model))}


def _version_response(version: ModelVersion) -> dict[str, Any]:
    return {"model_version": model_version_json(version)}


def _tags_param(call: Call, name: str = "tags") -> dict[str, str]:
    return payloads.parse_tags(call.getlist(name))


def _model(call: Call) -> RegisteredModel:
    return selectors.model_get(call.principal, call.string("name"))


def _version(call: Call) -> ModelVersion:
    return selectors.version_get(call.principal, call.string("name"), call.string("version"))


def _serve_cached(
    call: Call,
    kind: str,
    parts: tuple[str, ...],
    load: Callable[[], tuple[RegisteredModel, list[ModelVersion], dict[str, Any]]],
) -> dict[str, Any]:
    """A serving read through `registry.readcache`: on a hit, the caller's read permission on the cached model is
    checked as usual (the entry holds data, not a decision) and the answer is served without touching the
    database; otherwise `load()` answers and its result is cached under the generation read before it."""
    principal = call.principal
    tenant_id = principal.tenant.pk
    # For `registry.fastpath`: the identity it may remember for this token (accounts/identitycache.py).
    getattr(call.request, "_request", call.request).mg_principal = principal
    # Inside an open transaction (never in production, where requests are not atomic) the caller may see its own
    # uncommitted changes, which no cached answer knows about: bypass the cache.
    generation = None if connection.in_atomic_block else readcache.generation(tenant_id)
    if generation is not None:
        entry = readcache.get(tenant_id, generation, kind, parts)
        if entry is not None:
            model = RegisteredModel(
                pk=entry["model_id"], tenant_id=tenant_id, owner_team_id=entry["owner_team_id"], name=parts[0]
            )
            if allows(principal, model, "read"):
                for number in entry["versions"]:
                    usage.record_use(principal, usage.VersionRef(model.pk, number), "resolve")
                _offer_to_fast_path(call, generation, kind, parts, entry)
                return entry["answer"]
            # Not readable (or no longer): the database path gives the same 404 as for a missing model.
    model, versions, answer = load()
    for version in versions:
        usage.record_use(principal, version, "resolve")
    if generation is not None:
        entry = {
            "model_id": model.pk,
            "owner_team_id": model.owner_team_id,
            "versions": [v.version for v in versions],
            "answer": answer,
        }
        readcache.put(tenant_id, generation, kind, parts, entry)
        _offer_to_fast_path(call, generation, kind, parts, entry)
    return answer


def _offer_to_fast_path(
    call: Call, generation: str, kind: str, parts: tuple[str, ...], entry: dict[str, Any]
) -> None:
    """Tell `registry.fastpath` (the outermost middleware) what this answer is, so it can keep the response's
    bytes under the generation read before the database, and the caller's identity."""
    http_request = getattr(call.request, "_request", call.request)
    http_request.mg_serving = {"generation": generation, "kind": kind, "parts": parts, **entry}


# --- registered models -------------------------------------------------------------------------------------------


@route("POST", "mlflow/registered-models/create")
def registered_model_create(call: Call):
    model = services.registered_model_create(
        principal=call.principal,
        name=call.string("name"),
        description=call.optional_string("description", default="") or "",
        tags=_tags_param(call),
    )
    return _model_response(model)


@route("GET", "mlflow/registered-models/get")
def registered_model_get(call: Call):
    return {
        "registered_model": registered_model_json(
            row_selectors.model_for_output(call.principal, call.string("name"))
        )
    }


# GET only, as MLflow routes it (model_registry.proto `searchRegisteredModels`, `searchModelVersions`): the filter
# travels in the query string, which config/gunicorn.py lets be long.
@route("GET", "mlflow/registered-models/search")
def registered_models_search(call: Call):
    models, token = selectors.models_search(
        call.principal,
        call.optional_string("filter"),
        call.getlist("order_by"),
        call.get("max_results"),
        call.optional_string("page_token"),
    )
    result: dict[str, Any] = {}
    if models:
        result["registered_models"] = [registered_model_json(m) for m in models]
    if token:
        result["next_page_token"] = token
    return result


@route("PATCH", "mlflow/registered-models/update")
def registered_model_update(call: Call):
    model = services.registered_model_update(
        principal=call.principal,
        model=_model(call),
        description=call.optional_string("description", default=""),
    )
    return _model_response(model)


@route("POST", "mlflow/registered-models/rename")
def registered_model_rename(call: Call):
    model = services.registered_model_rename(
        principal=call.principal, model=_model(call), new_name=call.string("new_name")
    )
    return _model_response(model)


@route("DELETE", "mlflow/registered-models/delete")
def registered_model_delete(call: Call):
    services.registered_model_delete(principal=call.principal, model=_model(call))
    return {}


@route("POST", "mlflow/registered-models/set-tag")
def registered_model_set_tag(call: Call):
    services.registered_model_set_tag(
        principal=call.principal,
        model=_model(call),
        key=call.string("key"),
        value=call.optional_string("value", default=""),
    )
    return {}


@route("DELETE", "mlflow/registered-models/delete-tag")
def registered_model_delete_tag(call: Call):
    services.registered_model_delete_tag(principal=call.principal, model=_model(call), key=call.string("key"))
    return {}


@route("POST", "mlflow/registered-models/get-latest-versions")
@route("GET", "mlflow/registered-models/get-latest-versions")
def registered_model_latest_versions(call: Call):
    name = call.string("name")
    stages = [str(s) for s in call.getlist("stages")]

    def load() -> tuple[RegisteredModel, list[ModelVersion], dict[str, Any]]:
        model = selectors.model_get(call.principal, name)
        versions = selectors.latest_versions(call.principal, model, stages)
        return (
            model,
            versions,
            {"model_versions": [model_version_json(v) for v in versions]} if versions else {},
        )

    return _serve_cached(call, "latest", (name, *stages), load)


@route("POST", "mlflow/registered-models/alias")
def registered_model_alias_set(call: Call):
    services.alias_set(
        principal=call.principal,
        model=_model(call),
        alias=call.string("alias"),
        version=call.string("version"),
    )
    return {}


@route("DELETE", "mlflow/registered-models/alias")
def registered_model_alias_delete(call: Call):
    services.alias_delete(principal=call.principal, model=_model(call), alias=call.string("alias"))
    return {}


@route("GET", "mlflow/registered-models/alias")
def registered_model_alias_get(call: Call):
    name, alias = call.string("name"), call.string("alias")

    def load() -> tuple[RegisteredModel, list[ModelVersion], dict[str, Any]]:
        version = selectors.version_by_alias(call.principal, name, alias)
        return version.model, [version], _version_response(version)

    return _serve_cached(call, "alias", (name, alias), load)


# --- model versions ----------------------------------------------------------------------------------------------


@route("POST", "mlflow/model-versions/create")
def model_version_create(call: Call):
    version = services.model_version_create(
        principal=call.principal,
        model=selectors.model_ref(
            call.principal, call.string("name")
        ),  # re-read under its lock by the service
        source=call.string("source"),
        run_id=call.optional_string("run_id") or None,
        description=call.optional_string("description", default="") or "",
        tags=_tags_param(call),
        run_link=call.optional_string("run_link", default="") or "",
        model_id=call.optional_string("model_id") or None,
    )
    # Answer READY when the worker is quick (see `wait_until_registered` for why and how long).
    return _version_response(selectors.wait_until_registered(version))


@route("GET", "mlflow/model-versions/get")
def model_version_get(call: Call):
    name, number = call.string("name"), call.string("version")

    def load() -> tuple[RegisteredModel, list[ModelVersion], dict[str, Any]]:
        version = selectors.version_get(call.principal, name, number)
        return version.model, [version], _version_response(version)

    return _serve_cached(call, "version", (name, number), load)


def version_row_json(row: tuple[Any, ...]) -> dict[str, Any]:
    """A search row (`search.VERSION_ROW_FIELDS`) as MLflow's ModelVersion: the same bytes as
    `model_version_json(version, with_aliases=False)`, without building model instances for every row."""
    (
        name,
        number,
        created,
        updated,
        stage,
        description,
        source,
        run_id,
        status,
        run_link,
        user,
        message,
        tags,
    ) = row
    data: dict[str, Any] = {
        "name": name,
        "version": str(number),
        "creation_timestamp": created,
        "last_updated_timestamp": updated,
        "current_stage": stage,
        "description": description or "",
        "source": source,
        "run_id": run_id or "",
        "status": status,
        "run_link": run_link or "",
    }
    if user:
        data["user_id"] = user
    if message:
        data["status_message"] = message
    if tags:
        data["tags"] = [{"key": k, "value": v} for k, v in sorted(tags, key=lambda t: t[0])]
    return data


@route("GET", "mlflow/model-versions/search")
def model_versions_search(call: Call):
    rows, token = row_selectors.versions_search_rows(
        call.principal,
        call.optional_string("filter"),
        call.getlist("order_by"),
        call.get("max_results"),
        call.optional_string("page_token"),
    )
    result: dict[str, Any] = {}
    if rows:
        # MLflow's search leaves aliases out (get, get-by-alias and get-latest-versions carry them).
        result["model_versions"] = [version_row_json(row) for row in rows]
    if token:
        result["next_page_token"] = token
    return result


@route("PATCH", "mlflow/model-versions/update")
def model_version_update(call: Call):
    version = services.model_version_update(
        principal=call.principal,
        version=_version(call),
        description=call.optional_string("description", default=""),
    )
    return _version_response(version)


@route("DELETE", "mlflow/model-versions/delete")
def model_version_delete(call: Call):
    services.model_version_delete(principal=call.principal, version=_version(call))
    return {}


@route("POST", "mlflow/model-versions/transition-stage")
def model_version_transition_stage(call: Call):
    version = services.model_version_transition_stage(
        principal=call.principal,
        version=_version(call),
        stage=call.string("stage"),
        archive_existing_versions=call.boolean("archive_existing_versions"),
    )
    return _version_response(version)


@route("POST", "mlflow/model-versions/set-tag")
def model_version_set_tag(call: Call):
    services.model_version_set_tag(
        principal=call.principal,
        version=_version(call),
        key=call.string("key"),
        value=call.optional_string("value", default=""),
    )
    return {}


@route("DELETE", "mlflow/model-versions/delete-tag")
def model_version_delete_tag(call: Call):
    services.model_version_delete_tag(
        principal=call.principal, version=_version(call), key=call.string("key")
    )
    return {}


@route("GET", "mlflow/model-versions/get-download-uri")
def model_version_download_uri(call: Call):
    version = _version(call)
    usage.record_use(call.principal, version, "resolve")
    return {"artifact_uri": selectors.download_uri(version)}
