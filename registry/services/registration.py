"""Registration, the worker's side: snapshot a pending version's files into its immutable manifest."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable

from django.db import connection, transaction

from config.common import now_ms
from registry import events, publishing, readiness
from registry.artifacts import integrity
from registry.models import (
    ModelVersion,
    ModelVersionFile,
    RegisteredModel,
    VersionStatus,
)
from registry.tracking.models import ArtifactEntry

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


def _lock_parent_model(version_id: int) -> int | None:
    """Lock the version's model row FOR KEY SHARE (one statement: find it through the version); → its id, or None
    when the version is gone. SQLite (make run) serialises writers itself and has no row locks."""
    suffix = " FOR KEY SHARE OF m" if connection.vendor == "postgresql" else ""
    model_table = connection.ops.quote_name(RegisteredModel._meta.db_table)
    version_table = connection.ops.quote_name(ModelVersion._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT m.id FROM {model_table} m JOIN {version_table} v ON v.model_id = m.id WHERE v.id = %s"
            + suffix,
            [version_id],
        )
        row = cursor.fetchone()
    return row[0] if row else None


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

    Locks, parent first as everywhere: the model row FOR KEY SHARE, then the version row. KEY SHARE is the weakest
    lock that still keeps the model (and so the version) from being deleted under us, and it does not conflict with
    the FOR NO KEY UPDATE that `model_version_create` takes to bump the version counter, so the worker finishing
    version N never queues behind the creation of version N+1 (nor the other way round). A concurrent delete of the
    version or its model waits for this transaction, or this one finds the version gone."""
    model_id = _lock_parent_model(version_id)
    if model_id is None:
        return None
    version = (
        ModelVersion.objects.select_for_update(of=("self",), no_key=True)
        .select_related("model", "model__tenant")
        .filter(pk=version_id, model_id=model_id)
        .first()
    )
    if version is None:
        return None
    model = version.model
    if version.status != VersionStatus.PENDING_REGISTRATION:
        return version.status
    tenant = model.tenant
    prefix = version.source_path.rstrip("/")
    entries = (
        list(
            ArtifactEntry.objects.for_tenant(tenant)
            .filter(path__startswith=prefix + "/")
            .values_list("path", "blob_id", "sha256", "size")
        )
        if prefix
        else []
    )
    if not entries and prefix:
        single = (
            ArtifactEntry.objects.for_tenant(tenant)
            .filter(path=prefix)
            .values_list("path", "blob_id", "sha256", "size")
            .first()
        )
        if single is not None:  # the source names one file: it becomes the snapshot's only file
            entries = [single]
            prefix = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
    ts = now_ms()
    if not prefix:
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
    corrupt = integrity.manifest_mismatches(entries)
    if corrupt:
        # The manifest copies each entry's sha256 and size: they must be its blob's own (no bytes are re-read).
        version.status = VersionStatus.FAILED_REGISTRATION
        version.status_message = f"Artifact integrity check failed for: {', '.join(corrupt[:10])}."
        version.last_updated_timestamp = ts
        version.save(update_fields=["status", "status_message", "last_updated_timestamp"])
        # Delivered on commit: wakes the request waiting for this version. Sent before the audit event so the
        # tenant's audit chain head (which every registry write of the tenant takes) is held one statement less.
        readiness.notify_ready(version.pk)
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
    readiness.notify_ready(version.pk)  # as above: on commit, and before the audit chain head is taken
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
