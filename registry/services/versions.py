"""Model versions: create (the worker finishes registration), describe, delete, tags."""

from __future__ import annotations

import logging
from functools import partial

from django.db import connection, transaction

from config.common import now_ms
from config.errors import InvalidParameter, NotFound, QuotaExceeded
from config.validation import check_text
from registry.artifacts import gc
from registry.models import (
    ModelAlias,
    ModelVersion,
    ModelVersionFile,
    ModelVersionTag,
    RegisteredModel,
    VersionStatus,
)
from registry.permissions import require
from registry.validation import (
    clean_description,
    is_ownership_tag,
    validate_tag,
)
from tenants.access import Principal
from tenants.models import Tenant

from ._common import (
    actor_label,
    emit_model_event,
    lock_version,
    touch,
    version_snapshot,
)
from .registration import enqueue_registration
from .sources import resolve_source

logger = logging.getLogger(__name__)


def _take_next_version(
    principal: Principal, model: RegisteredModel, ts: int
) -> tuple[RegisteredModel, int | None]:
    """Lock the model row and allocate the next version number in ONE statement (`UPDATE … RETURNING`); → the
    fresh model (its `last_version` is the new number) and the tenant's versions-per-model quota. A model deleted
    meanwhile, or in another tenant, answers 404.

    Why one statement: every create of the model queues on this row lock until its COMMIT, so each round trip
    inside it is paid by every waiting create. An UPDATE that changes no key column takes FOR NO KEY UPDATE, so
    the worker finalizing an earlier version (which locks only the version row) never waits for it."""
    qn = connection.ops.quote_name
    fields = list(RegisteredModel._meta.concrete_fields)
    table = qn(RegisteredModel._meta.db_table)
    tenants = qn(Tenant._meta.db_table)
    columns = ", ".join(f"{table}.{qn(str(f.column))}" for f in fields)
    sql = (
        f"UPDATE {table} SET {qn('last_version')} = {qn('last_version')} + 1, "
        f"{qn('last_updated_timestamp')} = %s WHERE {qn('id')} = %s AND {qn('tenant_id')} = %s "
        f"RETURNING {columns}, (SELECT t.{qn('quota_versions_per_model')} FROM {tenants} t "
        f"WHERE t.{qn('id')} = {table}.{qn('tenant_id')})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [ts, model.pk, principal.tenant.pk])
        row = cursor.fetchone()
    if row is None:
        raise NotFound(f"Registered Model with name={model.name} not found")
    fresh = RegisteredModel.from_db(connection.alias, [f.attname for f in fields], list(row[: len(fields)]))
    fresh.tenant = principal.tenant
    return fresh, row[len(fields)]


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
    description = clean_description(description)
    clean_tags = dict(validate_tag(k, v) for k, v in (tags or {}).items())
    # The source (a run or logged model, not guarded by the model row) is resolved before the model row is locked:
    # every create of this model queues on that lock, so it is held for the counter, the insert and the audit only.
    # The permission is checked first so a caller who may not create versions learns that, not what is wrong with
    # the source, and again under the lock (it may have changed meanwhile; for the owning team it costs no query).
    require(principal, model, "edit", action="create a model version")
    source_path, run, logged_model = resolve_source(principal, source, run_id, model_id)
    ts = now_ms()
    model, quota = _take_next_version(principal, model, ts)
    require(principal, model, "edit", action="create a model version")
    # Counted under the model row lock, which serialises this model's version creations (the new number is already
    # taken: a refusal rolls it back with everything else).
    if quota is not None and ModelVersion.objects.filter(model=model).count() >= quota:
        raise QuotaExceeded(f"Model '{model.name}' has reached the quota of {quota} versions per model.")
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
        user_label=actor_label(principal),
        creation_timestamp=ts,
        last_updated_timestamp=ts,
    )
    ModelVersionTag.objects.bulk_create(
        [ModelVersionTag(version=version, key=k, value=v) for k, v in clean_tags.items()]
    )
    emit_model_event(
        principal,
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
        after_commit=partial(enqueue_registration, version.pk),
    )
    return version


@transaction.atomic(durable=True)
def model_version_update(*, principal: Principal, version: ModelVersion, description: str) -> ModelVersion:
    model, version = lock_version(principal, version)
    require(principal, model, "edit", action="update the model version")
    description = clean_description(description)
    before = version.description
    version.description = description
    version.last_updated_timestamp = now_ms()
    version.save(update_fields=["description", "last_updated_timestamp"])
    emit_model_event(
        principal,
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
    model, version = lock_version(principal, version)
    require(principal, model, "manage", action="delete the model version")
    aliases = list(ModelAlias.objects.filter(version=version).values_list("alias", flat=True))
    emit_model_event(
        principal,
        action="model_version.deleted",
        obj=version,
        model=model,
        version=version.version,
        before={
            **version_snapshot(version),
            "aliases": sorted(aliases),
            "manifest_sha256": version.manifest_sha256,
        },
    )
    # Its snapshot's bytes go after commit, unless another version or an artifact path still references them.
    gc.on_commit_collect(ModelVersionFile.objects.filter(version=version).values_list("blob_id", flat=True))
    version.delete()  # cascades to its tags, files and aliases; the model's counter never goes back
    touch(model)


@transaction.atomic(durable=True)
def model_version_set_tag(*, principal: Principal, version: ModelVersion, key: str, value: str) -> None:
    key, value = validate_tag(key, value)
    model, version = lock_version(principal, version)
    tag = ModelVersionTag.objects.filter(version=version, key=key).first()
    unchanged_ownership = is_ownership_tag(key) and tag is not None and tag.value == value
    # Re-applying an ownership tag with its current value changes nothing: edit is enough (see the model's tags).
    level = "manage" if is_ownership_tag(key) and not unchanged_ownership else "edit"
    require(principal, model, level, action=f"set tag '{key}'")
    if unchanged_ownership:
        return
    before = tag.value if tag else None
    if tag is None:
        ModelVersionTag.objects.create(version=version, key=key, value=value)
    elif tag.value != value:
        tag.value = value
        tag.save(update_fields=["value"])
    version.last_updated_timestamp = now_ms()
    version.save(update_fields=["last_updated_timestamp"])
    emit_model_event(
        principal,
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
    model, version = lock_version(principal, version)
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
    emit_model_event(
        principal,
        action="model_version.tag_deleted",
        obj=version,
        model=model,
        version=version.version,
        before={"key": key, "value": before},
    )
