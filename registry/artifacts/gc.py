"""Garbage collection of blobs: bytes go only after the rows that referenced them are gone (committed), and only
when no ArtifactEntry or ModelVersionFile row references them any more. Blobs are per tenant, so another tenant
never shares them.

Two paths:
- after a deletion commits, `schedule_collect` publishes `modelgate.collect_blob` for each blob that lost a
  reference (never raising into the request: a lost publish leaves an orphan for the sweep);
- the hourly sweep `modelgate.collect_orphan_blobs` collects unreferenced Blob rows older than
  `ARTIFACT_GC_GRACE_SECONDS`, and objects under `tenants/<id>/blobs/` with no Blob row, as old.

The grace period protects an upload whose bytes are stored but whose row is not yet recorded. `collect_blob`
follows the placeholder protocol of `registry.artifacts.services`: it holds the Blob row lock while it re-checks the
references and deletes the object, so a recorder that references the blob concurrently either committed first (the
re-check sees it) or waits on the lock and then finds the row gone (`BlobVanished`, a 503 to retry)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from config.celery_app import app as celery_app
from registry import events
from registry.models import ModelVersionFile
from registry.tracking.models import ArtifactEntry, Blob
from tenants.models import Tenant

from . import storage

logger = logging.getLogger(__name__)

COLLECT_TASK = "modelgate.collect_blob"


def grace() -> timedelta:
    return timedelta(seconds=getattr(settings, "ARTIFACT_GC_GRACE_SECONDS", 3600))


def _referenced(blob_id: int) -> bool:
    return (
        ArtifactEntry.objects.filter(blob_id=blob_id).exists()
        or ModelVersionFile.objects.filter(blob_id=blob_id).exists()
    )


def schedule_collect(blob_ids: Iterable[int]) -> None:
    """After commit: ask the worker to collect these blobs. Never raises (the hourly sweep is the fallback)."""
    for blob_id in sorted(set(blob_ids)):
        try:
            celery_app.send_task(COLLECT_TASK, args=[blob_id])
        except Exception:
            logger.warning("could not enqueue collection of blob %s; the sweep will", blob_id, exc_info=True)


def on_commit_collect(blob_ids: Iterable[int]) -> None:
    """Called inside a deleting service, before its rows go: collect the blobs once the deletion commits."""
    ids = list(blob_ids)
    if ids:
        transaction.on_commit(lambda: schedule_collect(ids))


def collect_blob(blob_id: int, *, older_than: datetime | None = None) -> tuple[int, int] | None:
    """Delete the blob's object and row if nothing references it (and, for the sweep, it is older than
    `older_than`). Returns (tenant id, bytes freed), or None when kept or already gone. Idempotent."""
    with transaction.atomic(durable=True):
        blob = Blob.objects.select_for_update().filter(pk=blob_id).first()
        if blob is None or _referenced(blob.pk):
            return None
        if older_than is not None and blob.created_at >= older_than:
            return None
        # Storage I/O under the row lock, deliberately (see the module docstring): the row goes only with the bytes.
        storage.delete_blob_object(blob.tenant_id, blob.sha256)
        freed = (blob.tenant_id, blob.size)
        blob.delete()
    return freed


def _blob_objects(tenant_id: int) -> Iterator[tuple[str, datetime]]:
    """(sha256, last modified) of every object stored under the tenant's blob prefix."""
    store = storage.backend()
    prefix = f"tenants/{int(tenant_id)}/blobs/sha256"
    if isinstance(store, FileSystemStorage):
        root = store.path(prefix)
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                mtime = os.stat(os.path.join(dirpath, name)).st_mtime
                yield name, datetime.fromtimestamp(mtime, tz=UTC)
        return
    client = store.connection.meta.client
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=store.bucket_name, Prefix=storage.s3_key(store, prefix) + "/"):
        for item in page.get("Contents", []):
            yield item["Key"].rsplit("/", 1)[-1], item["LastModified"]


def _discard_unrecorded(tenant: Tenant, sha256: str) -> bool:
    """Delete an object that has no Blob row, under a placeholder row (as a failed upload does)."""
    with transaction.atomic(durable=True):
        try:
            with transaction.atomic():
                placeholder = Blob.objects.create(tenant=tenant, sha256=sha256, size=0)
        except IntegrityError:
            return False  # recorded meanwhile: the bytes are someone's
        storage.delete_blob_object(tenant.pk, sha256)
        placeholder.delete()
    return True


def collect_orphans() -> dict[int, dict[str, int]]:
    """The sweep: per tenant, how many blobs (rows with their objects) and stray objects went, and the bytes."""
    cutoff = timezone.now() - grace()
    summary: dict[int, dict[str, int]] = {}
    unreferenced = (
        Blob.objects.filter(created_at__lt=cutoff)
        .exclude(Exists(ArtifactEntry.objects.filter(blob_id=OuterRef("pk"))))
        .exclude(Exists(ModelVersionFile.objects.filter(blob_id=OuterRef("pk"))))
        .values_list("pk", "tenant_id")
    )
    for blob_id, tenant_id in list(unreferenced.iterator(chunk_size=1000)):
        freed = collect_blob(blob_id, older_than=cutoff)
        if freed is not None:
            row = summary.setdefault(tenant_id, {"blobs": 0, "objects": 0, "bytes": 0})
            row["blobs"] += 1
            row["bytes"] += freed[1]
    for tenant in Tenant.objects.all().iterator():
        for sha256, modified in _blob_objects(tenant.pk):
            if modified >= cutoff or len(sha256) != 64:
                continue
            if Blob.objects.filter(tenant=tenant, sha256=sha256).exists():
                continue
            if _discard_unrecorded(tenant, sha256):
                summary.setdefault(tenant.pk, {"blobs": 0, "objects": 0, "bytes": 0})["objects"] += 1
    for tenant_id, row in summary.items():
        audit(tenant_id, row)
    return summary


@transaction.atomic(durable=True)
def audit(tenant_id: int, row: dict[str, int]) -> None:
    tenant = Tenant.objects.get(pk=tenant_id)
    events.emit(tenant=tenant, actor=None, action="artifact.gc", obj=tenant, after=dict(row))
