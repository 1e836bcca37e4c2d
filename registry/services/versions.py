"""Model versions: create (the worker finishes registration), describe, delete, tags."""

from __future__ import annotations

import logging
from functools import partial

from django.db import connection, transaction

from config import sqlrows
from config.common import now_ms
from config.errors import InvalidParameter, NotFound, QuotaExceeded
from config.validation import check_text
from registry import events
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
    lock_model,
    lock_version,
    touch,
    version_snapshot,
)
from .registration import enqueue_registration
from .sources import resolve_source

logger = logging.getLogger(__name__)


def _insert_next_version(principal: Principal, model: RegisteredModel, version: ModelVersion) -> int | None:
    """Lock the model row, take the next version number and insert `version` with it, in ONE statement on
    PostgreSQL (`WITH m AS (UPDATE model … RETURNING …), v AS (INSERT … SELECT … FROM m) SELECT …`); sets
    `version.model` to the fresh model row (its `last_version` is the new number) and returns the tenant's
    versions-per-model quota. A model deleted meanwhile, or in another tenant, answers 404.

    Why one statement: every create of the model queues on this row lock until its COMMIT, so each round trip
    inside it is paid by every waiting create (the benchmark's eight clients all create versions of one model). An
    UPDATE that changes no key column takes FOR NO KEY UPDATE, so the worker finalizing an earlier version (which
    locks only the version row) never waits for it. Other databases (SQLite, which serialises writers): the ORM."""
    if connection.vendor != "postgresql":
        locked = lock_model(principal, model, no_key=True)
        locked.last_version += 1
        locked.last_updated_timestamp = version.creation_timestamp
        locked.save(update_fields=["last_version", "last_updated_timestamp"])
        version.model, version.version = locked, locked.last_version
        version.save(force_insert=True)
        return (
            Tenant.objects.filter(pk=locked.tenant_id)
            .values_list("quota_versions_per_model", flat=True)
            .first()
        )
    qn = sqlrows.qn
    model_fields = sqlrows.fields_of(RegisteredModel)
    table, versions = qn(RegisteredModel._meta.db_table), qn(ModelVersion._meta.db_table)
    tenants = qn(Tenant._meta.db_table)
    numbered = {"model_id", "version"}
    fields = [
        f for f in ModelVersion._meta.concrete_fields if not f.primary_key and f.attname not in numbered
    ]
    # Explicit casts: an untyped literal in INSERT … SELECT is resolved as text before it meets its column.
    values = ", ".join(f"CAST(%s AS {f.db_type(connection)})" for f in fields)
    sql = (
        f"WITH m AS (UPDATE {table} SET {qn('last_version')} = {qn('last_version')} + 1, "
        f"{qn('last_updated_timestamp')} = %s WHERE {qn('id')} = %s AND {qn('tenant_id')} = %s "
        f"RETURNING {sqlrows.select_list(RegisteredModel, model_fields, table)}, "
        f"(SELECT t.{qn('quota_versions_per_model')} FROM {tenants} t "
        f"WHERE t.{qn('id')} = {table}.{qn('tenant_id')}) AS mg_quota), "
        f"v AS (INSERT INTO {versions} ({qn('model_id')}, {qn('version')}, "
        f"{', '.join(qn(str(f.column)) for f in fields)}) "
        f"SELECT m.{qn('id')}, m.{qn('last_version')}, {values} FROM m RETURNING {qn('id')}) "
        f"SELECT m.*, v.{qn('id')} FROM m CROSS JOIN v"
    )
    params = [version.creation_timestamp, model.pk, principal.tenant.pk]
    params += [f.get_db_prep_save(getattr(version, f.attname), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        raise NotFound(f"Registered Model with name={model.name} not found")
    n = len(model_fields)
    fresh = sqlrows.instance(RegisteredModel, model_fields, row[:n])
    fresh.tenant = principal.tenant
    version.model, version.version, version.pk = fresh, fresh.last_version, row[n + 1]
    version._state.adding = False
    version._state.db = connection.alias
    return row[n]


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
    version = ModelVersion(
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
    # What the event's subscribers read (the active webhooks) is read now, before the model row lock.
    prepared = events.prepare(tenant_id=principal.tenant.pk, model_id=model.pk)
    quota = _insert_next_version(principal, model, version)
    model = version.model
    require(principal, model, "edit", action="create a model version")
    # Counted under the model row lock, which serialises this model's version creations; the count includes the
    # version just inserted (a refusal rolls it and its number back with everything else).
    if quota is not None and ModelVersion.objects.filter(model=model).count() > quota:
        raise QuotaExceeded(f"Model '{model.name}' has reached the quota of {quota} versions per model.")
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
        prepared=prepared,
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
