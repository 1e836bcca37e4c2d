"""Writes of artifacts: recording an uploaded file in the tenant's artifact tree, deleting entries.

Storage I/O never happens inside a database transaction: `artifact_upload` streams the bytes into storage first,
then records them in one short durable transaction (`artifact_record`), and removes the stored object again only
after that transaction has rolled back, when no Blob row refers to it. Deleting entries keeps their blobs:
registered model versions may share them."""

from __future__ import annotations

from collections.abc import Callable

from django.db import IntegrityError, transaction

from registry import events
from registry.tracking.models import ArtifactEntry, Blob
from registry.tracking.services._common import actor
from tenants.access import Principal
from tenants.models import Tenant

from . import storage
from .selectors import artifact_experiment, blob_recorded, remaining_quota, tenant_storage_used


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
        # The transaction rolled back: drop bytes we put there unless another upload recorded them meanwhile.
        if stored.newly_stored and not blob_recorded(principal.tenant, stored.sha256):
            storage.delete_blob_object(principal.tenant.pk, stored.sha256)
        raise


@transaction.atomic(durable=True)
def artifact_record(*, principal: Principal, path: str, sha256: str, size: int) -> ArtifactEntry:
    """Record an uploaded file: the tenant's Blob (created if new) and the ArtifactEntry at `path` (replaced if it
    exists). The bytes are already in storage; this only writes rows."""
    experiment = artifact_experiment(principal, path, "edit")
    tenant = principal.tenant
    if tenant.quota_storage_bytes is not None:
        # Lock the tenant row so concurrent uploads cannot both fit under the quota.
        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
        if (
            not blob_recorded(tenant, sha256)
            and tenant_storage_used(tenant) + size > tenant.quota_storage_bytes
        ):
            raise storage.quota_error(tenant)
    blob, _ = Blob.objects.get_or_create(tenant=tenant, sha256=sha256, defaults={"size": size})
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
    """Delete the file at `path`, or everything under it if it is a directory. Blobs stay (registered versions
    may share them); returns how many entries went."""
    artifact_experiment(principal, path, "edit")
    in_tenant = ArtifactEntry.objects.for_tenant(principal.tenant)
    count, _ = (in_tenant.filter(path=path) | in_tenant.filter(path__startswith=path + "/")).delete()
    if count:
        events.emit(
            tenant=principal.tenant,
            actor=actor(principal),
            action="artifact.deleted",
            obj=principal.tenant,
            before={"path": path, "entries": count},
        )
    return count


# --- integrity findings (registry.artifacts.integrity) ------------------------------------------------------------


@transaction.atomic(durable=True)
def blob_corruption_record(*, tenant_id: int, sha256: str, finding: dict) -> None:
    """Record in the tenant's audit chain that a blob's stored bytes are missing or corrupt (found by the periodic
    sample check), with the versions and paths it affects. Rows only: the bytes were read before."""
    blob = Blob.objects.filter(tenant_id=tenant_id, sha256=sha256).select_related("tenant").first()
    if blob is None:  # deleted since it was checked: nothing left to be corrupt
        return
    events.emit(tenant=blob.tenant, actor=None, action="artifact.corrupt_detected", obj=blob, after=finding)
