"""Writes of artifacts: recording an uploaded file in the tenant's artifact tree, deleting entries.

Storage I/O never happens inside a long database transaction: `artifact_upload` streams the bytes into storage
first, then records them in one short durable transaction (`artifact_record`). Deleting entries keeps their blobs:
registered model versions may share them.

Bytes of a failed upload, and concurrent identical uploads. Blobs are content-addressed, so two uploads of the same
bytes share one stored object, and one may fail (permission, quota, a lost connection) while the other is about to
record it. The Blob row's unique (tenant, sha256) index is the lock between them:

- the failed upload removes the bytes only under a placeholder Blob row of its own (`_blob_discard`): if a row
  exists, or a recorder's uncommitted insert is there (the insert waits for it to commit, then fails), the bytes
  belong to that recorder and stay;
- a recorder that inserts the Blob row (the first of this content in the tenant) checks, holding that uncommitted
  row, that the bytes are still there: a discard that committed before its insert could have removed them. It is a
  single stat/HEAD, and only for new content; while the row is held no discard can start. When they are gone the
  upload answers 503 TEMPORARILY_UNAVAILABLE (the client retries it) and records nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from django.db import IntegrityError, transaction

from config.errors import NotFound, TemporarilyUnavailable
from registry import events
from registry.models import ModelVersion, RegisteredModel
from registry.permissions import require
from registry.tracking.models import ArtifactEntry, Blob
from registry.tracking.services._common import actor
from tenants.access import Principal
from tenants.models import Tenant

from . import gc, storage
from .selectors import (
    artifact_entry,
    artifact_experiment,
    referenced_blobs,
    remaining_quota,
    tenant_storage_used,
)

logger = logging.getLogger(__name__)


class BlobVanished(TemporarilyUnavailable):
    """The uploaded bytes were removed by a concurrent failed upload of the same content before this one recorded
    them: retrying the upload (a 503, which clients retry) stores them again."""


def artifact_upload(
    *, principal: Principal, path: str, read: Callable[[int], bytes], declared_size: int | None = None
) -> ArtifactEntry:
    """Stream an upload into the tenant's blob store and record it at `path` (a validated artifact path).

    The permission is checked before a byte is read, so a refused upload costs nothing (`artifact_record` checks
    it again when recording); a declared size over the quota is refused up front, and the stream is cut off as
    soon as it passes what the quota leaves."""
    artifact_experiment(principal, path, "edit")
    limit = remaining_quota(principal.tenant)
    if limit is not None and declared_size is not None and declared_size > limit:
        raise storage.quota_error(principal.tenant)
    stored = storage.store_stream(tenant=principal.tenant, read=read, limit=limit)
    try:
        return artifact_record(principal=principal, path=path, sha256=stored.sha256, size=stored.size)
    except Exception:
        # The transaction rolled back: drop the bytes we put there unless an upload recorded them or is recording.
        if stored.newly_stored:
            try:
                _blob_discard(tenant=principal.tenant, sha256=stored.sha256, size=stored.size)
            except Exception:  # the upload's own error is the one to report; an orphan blob costs only space
                logger.exception("Could not discard the bytes of a failed upload (sha256 %s)", stored.sha256)
        raise


def _blob_discard(*, tenant: Tenant, sha256: str, size: int) -> bool:
    """Delete the stored bytes if no Blob row records them; True when deleted. See the module docstring."""
    with transaction.atomic(durable=True):
        try:
            with transaction.atomic():
                # Waits for a recorder's uncommitted insert of this digest, and then fails: the bytes are theirs.
                placeholder = Blob.objects.create(tenant=tenant, sha256=sha256, size=size)
        except IntegrityError:
            return False
        # Storage I/O while holding the placeholder row, deliberately: a recorder inserting the row now waits until
        # the bytes are gone and then sees that they are (artifact_record), instead of recording missing bytes.
        storage.delete_blob_object(tenant.pk, sha256)
        placeholder.delete()
    return True


@transaction.atomic(durable=True)
def artifact_record(*, principal: Principal, path: str, sha256: str, size: int) -> ArtifactEntry:
    """Record an uploaded file: the tenant's Blob (created if new) and the ArtifactEntry at `path` (replaced if it
    exists). The bytes are already in storage; this only writes rows."""
    experiment = artifact_experiment(principal, path, "edit")
    tenant = principal.tenant
    if tenant.quota_storage_bytes is not None:
        # Lock the tenant row so concurrent uploads cannot both fit under the quota.
        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
        # Usage counts referenced blobs: recording one that is stored but unreferenced adds its size too.
        if (
            not referenced_blobs(tenant).filter(sha256=sha256).exists()
            and tenant_storage_used(tenant) + size > tenant.quota_storage_bytes
        ):
            raise storage.quota_error(tenant)
    blob, created = Blob.objects.get_or_create(tenant=tenant, sha256=sha256, defaults={"size": size})
    if created and not storage.blob_object_exists(tenant.pk, sha256):
        # A failed upload of the same bytes discarded them after we stored them and before this insert; our
        # uncommitted row now keeps any other discard out, but these bytes are gone. (One stat, new content only.)
        raise BlobVanished(
            "The uploaded bytes were removed by a concurrent failed upload of the same content; retry the upload."
        )
    if not created and not Blob.objects.select_for_update().filter(pk=blob.pk).exists():
        # Garbage collection (which holds this lock while deleting) removed the row and its bytes meanwhile.
        raise BlobVanished("The stored bytes were garbage collected meanwhile; retry the upload.")
    entry = ArtifactEntry.objects.for_tenant(tenant).select_for_update().filter(path=path).first()
    created = False
    if entry is None:
        try:
            with transaction.atomic():
                entry = ArtifactEntry.objects.create(
                    tenant=tenant, path=path, blob=blob, sha256=sha256, size=size
                )
                created = True
        except IntegrityError:
            # A concurrent upload of the same path won; last writer wins, as on a file system.
            entry = ArtifactEntry.objects.for_tenant(tenant).select_for_update().get(path=path)
    before = None
    if not created:
        before = {"sha256": entry.sha256, "size": entry.size}
        entry.blob, entry.sha256, entry.size = blob, sha256, size
        entry.save(update_fields=["blob", "sha256", "size", "updated_at"])
    events.emit(
        tenant=tenant,
        actor=actor(principal),
        action="artifact.uploaded",
        obj=entry,
        before=before,
        after={"path": path, "sha256": sha256, "size": size, "experiment_id": str(experiment.number)},
    )
    return entry


@transaction.atomic(durable=True)
def artifact_delete(*, principal: Principal, path: str) -> int:
    """Delete the file at `path`, or everything under it if it is a directory; returns how many entries went. Their
    blobs are collected after commit unless still referenced (registered versions, other paths share them)."""
    artifact_experiment(principal, path, "edit")
    in_tenant = ArtifactEntry.objects.for_tenant(principal.tenant)
    doomed = in_tenant.filter(path=path) | in_tenant.filter(path__startswith=path + "/")
    # Bytes go after commit, and only if nothing else references them (registry.artifacts.gc).
    gc.on_commit_collect(doomed.values_list("blob_id", flat=True).distinct())
    count, _ = doomed.delete()
    if count:
        events.emit(
            tenant=principal.tenant,
            actor=actor(principal),
            action="artifact.deleted",
            obj=principal.tenant,
            before={"path": path, "entries": count},
        )
    return count


# --- presigned downloads (registry.mlflow_api.artifacts) ---------------------------------------------------------


@transaction.atomic(durable=True)
def artifact_presign_record(
    *,
    principal: Principal,
    path: str,
    sha256: str,
    size: int,
    expires_at: datetime,
    version: ModelVersion | None = None,
) -> None:
    """Record that `principal` was handed a presigned URL for the file at `path` (a run artifact, or with `version`
    a registered version's file), valid until `expires_at`. Rows only: the URL is signed after this commits, so no
    URL exists that the audit log does not show. The read permission is checked again here, as for a proxied
    download (a missing or other tenant's path is the same 404)."""
    after = {"path": path, "sha256": sha256, "size": size, "expires_at": expires_at.isoformat()}
    if version is not None:
        # Parent row first, as every service: a concurrent deletion of the model either finished (404) or waits.
        model = RegisteredModel.objects.select_for_update().filter(pk=version.model_id).first()
        if model is None or not ModelVersion.objects.filter(pk=version.pk).exists():
            raise NotFound("Model version artifacts not found.")
        require(principal, model, "read", action="read model version artifacts")
        events.emit(
            tenant=principal.tenant,
            actor=actor(principal),
            action="artifact.presigned",
            obj=version,
            model_id=model.pk,
            version=version.version,
            after=after,
        )
        return
    artifact_experiment(principal, path, "read")
    entry = artifact_entry(principal, path)
    if entry is None or entry.sha256 != sha256:  # deleted or replaced since the view looked: ask again
        raise NotFound(f"No artifact at '{path}'.")
    events.emit(
        tenant=principal.tenant, actor=actor(principal), action="artifact.presigned", obj=entry, after=after
    )


# --- integrity findings (registry.artifacts.integrity) ------------------------------------------------------------


@transaction.atomic(durable=True)
def blob_corruption_record(*, tenant_id: int, sha256: str, finding: dict) -> None:
    """Record in the tenant's audit chain that a blob's stored bytes are missing or corrupt (found by the periodic
    sample check), with the versions and paths it affects. Rows only: the bytes were read before."""
    blob = Blob.objects.filter(tenant_id=tenant_id, sha256=sha256).select_related("tenant").first()
    if blob is None:  # deleted since it was checked: nothing left to be corrupt
        return
    events.emit(tenant=blob.tenant, actor=None, action="artifact.corrupt_detected", obj=blob, after=finding)
