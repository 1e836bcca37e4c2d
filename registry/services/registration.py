"""Registration, the worker's side: snapshot a pending version's files into its immutable manifest."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable

from django.db import connection, transaction

from config import sqlrows
from config.common import now_ms
from registry import events, publishing, readiness
from registry.models import ModelVersion, ModelVersionFile, RegisteredModel, VersionStatus
from registry.tracking.models import ArtifactEntry, Blob

logger = logging.getLogger(__name__)

REGISTER_TASK = "modelgate.register_model_version"


def manifest_sha256(files: Iterable[tuple[str, int, str]]) -> str:
    """SHA-256 over the canonical manifest: `[[path, size, sha256], …]` sorted by path, compact JSON."""
    rows = sorted([str(p), int(s), str(h)] for p, s, h in files)
    return hashlib.sha256(json.dumps(rows, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


# Versions whose publish failed (or was skipped, the broker being down) in this process lately: waiting for their
# registration is pointless.
_unpublished: dict[int, float] = {}


def enqueue_registration(version_id: int) -> None:
    """Publish the registration task (by name: services never import tasks, which import services). A broker that
    is down leaves the version PENDING_REGISTRATION: `requeue_pending_registrations` (beat) picks it up later.
    Never blocks for more than about a second (config/celery_app.py: publish timeouts, no result subscription)."""
    if not publishing.publish(REGISTER_TASK, [version_id]):
        _unpublished[version_id] = time.monotonic()


def publish_failed(version_id: int) -> bool:
    """Whether this process failed (or skipped) publishing this version's registration in the last minute."""
    cutoff = time.monotonic() - 60
    for stale in [k for k, t in _unpublished.items() if t < cutoff]:
        _unpublished.pop(stale, None)
    return version_id in _unpublished


def _lock_version(version_id: int) -> ModelVersion | None:
    """The version row, locked FOR NO KEY UPDATE, with what registration needs of it, its model and its tenant: one
    statement, in SQL of its own because the ORM's select_related of three full rows was the largest share of the
    worker's CPU per registration. The instance carries only these columns (the others are deferred)."""
    from tenants.models import Tenant

    qn = sqlrows.qn
    v_fields = sqlrows.fields_of(
        ModelVersion, {"id", "model_id", "version", "status", "source", "source_path"}
    )
    m_fields = sqlrows.fields_of(RegisteredModel, {"id", "tenant_id", "name"})
    lock = " FOR NO KEY UPDATE OF v" if connection.vendor == "postgresql" else ""  # SQLite serialises writers
    sql = (
        f"SELECT {sqlrows.select_list(ModelVersion, v_fields, 'v')}, "
        f"{sqlrows.select_list(RegisteredModel, m_fields, 'm')} "
        f"FROM {qn(ModelVersion._meta.db_table)} v "
        f"JOIN {qn(RegisteredModel._meta.db_table)} m ON m.{qn('id')} = v.{qn('model_id')} "
        f"WHERE v.{qn('id')} = %s{lock}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [version_id])
        row = cursor.fetchone()
    if row is None:
        return None
    version = sqlrows.instance(ModelVersion, v_fields, row[: len(v_fields)])
    model = sqlrows.instance(RegisteredModel, m_fields, row[len(v_fields) :])
    model.tenant = sqlrows.instance(Tenant, ["id"], [model.tenant_id])
    version.model = model
    return version


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "/%"


def _entries(tenant_id: int, prefix: str) -> list[tuple]:
    """The artifact entries under `prefix/` — or, when there are none, the single file `prefix` names — each as
    (path, blob id, sha256, size, the blob's own sha256, the blob's own size) for the integrity check. One statement
    for both cases, in SQL of its own (the ORM's compile cost more CPU than the query)."""
    qn = connection.ops.quote_name
    sql = (
        f"SELECT e.{qn('path')}, e.{qn('blob_id')}, e.{qn('sha256')}, e.{qn('size')}, b.{qn('sha256')}, "
        f"b.{qn('size')} FROM {qn(ArtifactEntry._meta.db_table)} e "
        f"JOIN {qn(Blob._meta.db_table)} b ON b.{qn('id')} = e.{qn('blob_id')} "
        f"WHERE e.{qn('tenant_id')} = %s AND (e.{qn('path')} LIKE %s OR e.{qn('path')} = %s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [tenant_id, _like_prefix(prefix), prefix])
        rows = [tuple(r) for r in cursor.fetchall()]
    under = [r for r in rows if r[0] != prefix]
    return under or rows


def _store_ready(version: ModelVersion, files: list[ModelVersionFile]) -> None:
    """Write the manifest, mark the version READY and NOTIFY the waiting web process (delivered on commit): one
    statement on PostgreSQL (the files' INSERT as a CTE of the version's UPDATE, `pg_notify` in its RETURNING).
    No earlier attempt's files can exist: an attempt that wrote them also made the version READY in the same
    transaction, and the status guard (under the version row lock) stops at that."""
    fields = ["manifest_sha256", "status", "status_message", "last_updated_timestamp"]
    if not readiness.supported():
        ModelVersionFile.objects.bulk_create(files)
        version.save(update_fields=fields)
        return
    qn = connection.ops.quote_name
    table = qn(ModelVersion._meta.db_table)
    sets = ", ".join(f"{qn(name)} = %s" for name in fields)
    params: list = []
    cte = ""
    if files:
        file_fields = [f for f in ModelVersionFile._meta.concrete_fields if not f.primary_key]
        rows = ", ".join(["(" + ", ".join(["%s"] * len(file_fields)) + ")"] * len(files))
        cte = (
            f"WITH files AS (INSERT INTO {qn(ModelVersionFile._meta.db_table)} "
            f"({', '.join(qn(str(f.column)) for f in file_fields)}) VALUES {rows}) "
        )
        for file in files:
            params += [f.get_db_prep_save(getattr(file, f.attname), connection) for f in file_fields]
    params += [getattr(version, name) for name in fields]
    params += [version.pk, readiness.CHANNEL, str(version.pk)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"{cte}UPDATE {table} SET {sets} WHERE {qn('id')} = %s RETURNING pg_notify(%s, %s)", params
        )


@transaction.atomic(durable=True)
def registration_finalize(*, version_id: int) -> str | None:
    """Snapshot the source's files into the version's manifest and mark it READY. A source that holds no files is
    READY with an empty manifest, as MLflow registers it (it never looks at the files); only a version whose source
    names no place in the tenant's artifact tree at all is FAILED_REGISTRATION. Returns the resulting status, or
    None when the version is gone.

    Idempotent: the status guard runs under the version row lock, so a second run (a duplicate delivery, or a
    redelivery after a worker died mid-way, whose uncommitted work PostgreSQL rolled back) finds the version no longer
    PENDING and changes nothing. Blobs are content-addressed and immutable, so the snapshot is rows pointing at them:
    later writes to the run's artifacts replace ArtifactEntry rows, never these.

    Locks: the version row only (FOR NO KEY UPDATE), then the tenant's audit chain head (last, through `emit`). The
    version row lock is all this needs: deleting the version, or its model (Django deletes the versions before the
    model row), has to delete this row and so waits for this transaction, or runs first and this one finds the
    version gone. It does not touch the model row at all, so registering version N never queues behind the creation
    of version N+1, which holds that row until it commits. Five statements in all on PostgreSQL: the version (with
    model and tenant), the source's entries (with their blobs), the manifest + status + NOTIFY, the audit append,
    and the webhook subscriptions."""
    version = _lock_version(version_id)
    if version is None:
        return None
    model = version.model
    if version.status != VersionStatus.PENDING_REGISTRATION:
        return version.status
    tenant = model.tenant
    prefix = version.source_path.rstrip("/")
    entries = _entries(tenant.pk, prefix) if prefix else []
    if len(entries) == 1 and entries[0][0] == prefix:  # the source names one file: the snapshot's only file
        prefix = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
    ts = now_ms()
    if not entries and not prefix:
        # Sources are resolved when the version is created, so this is a row that never named a path.
        version.status = VersionStatus.FAILED_REGISTRATION
        version.status_message = f"The source '{version.source}' does not name a location in this tenant."
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
    # The manifest copies each entry's sha256 and size: they must be its blob's own (no bytes are re-read).
    corrupt = [
        path for path, _b, sha, size, blob_sha, blob_size in entries if (sha, size) != (blob_sha, blob_size)
    ]
    if corrupt:
        version.status = VersionStatus.FAILED_REGISTRATION
        version.status_message = f"Artifact integrity check failed for: {', '.join(corrupt[:10])}."
        version.last_updated_timestamp = ts
        version.save(update_fields=["status", "status_message", "last_updated_timestamp"])
        readiness.notify_ready(version.pk)  # delivered on commit: wakes the request waiting for this version
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
    # Read ahead of the audit append (which takes the tenant's chain head until COMMIT): the active webhooks.
    prepared = events.prepare(tenant_id=tenant.pk, model_id=model.pk)
    strip = len(prefix) + 1 if prefix else 0
    files = [
        ModelVersionFile(version=version, path=path[strip:], blob_id=blob_id, sha256=sha, size=size)
        for path, blob_id, sha, size, _bs, _bz in entries
    ]
    version.manifest_sha256 = manifest_sha256((f.path, f.size, f.sha256) for f in files)
    version.status = VersionStatus.READY
    version.status_message = ""
    version.last_updated_timestamp = ts
    _store_ready(version, files)
    events.emit(
        tenant=tenant,
        actor=None,
        action="model_version.ready",
        obj=version,
        model_id=model.pk,
        version=version.version,
        prepared=prepared,
        after={
            "status": version.status,
            "manifest_sha256": version.manifest_sha256,
            "files": len(files),
            "bytes": sum(f.size for f in files),
        },
    )
    return version.status
