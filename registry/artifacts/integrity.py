"""Integrity of stored artifacts: re-reading blobs against the sha256 computed when they were uploaded, and naming
what a bad blob affects (registered versions, run artifact paths).

The sha256 of every blob is computed while its upload streams (`storage.store_stream`) and kept on the Blob row,
every ArtifactEntry and every ModelVersionFile (the version's manifest). Registration checks the rows agree
(`manifest_mismatches`, no bytes read); `verify_artifacts` and the periodic sample (`sample`) re-read the bytes."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.db.models import Max, Min

from config.errors import NotFound
from registry.models import ModelVersionFile, RegisteredModel
from registry.tracking.models import ArtifactEntry, Blob

from .reading import hash_blob

logger = logging.getLogger(__name__)


@dataclass
class Finding:
    """A blob whose stored bytes are missing or no longer hash to its sha256, and what it affects."""

    tenant_id: int
    sha256: str
    size: int
    problem: str
    versions: list[tuple[str, int, str]] = field(default_factory=list)  # (model name, version, file path)
    paths: list[str] = field(default_factory=list)  # run / logged-model artifact paths

    def as_dict(self) -> dict:
        return {
            "sha256": self.sha256,
            "size": self.size,
            "problem": self.problem,
            "versions": [{"model": m, "version": v, "path": p} for m, v, p in self.versions],
            "paths": self.paths,
        }


def check_blob(blob: Blob) -> str | None:
    """Re-read one blob's bytes (streaming); a description of what is wrong, or None when intact."""
    actual = hash_blob(blob.tenant_id, blob.sha256)
    if actual is None:
        return "missing from storage"
    digest, size = actual
    if digest != blob.sha256:
        return f"content does not match its sha256 (stored bytes hash to {digest}, {size} bytes)"
    if size != blob.size:
        return f"size {size} differs from the recorded {blob.size} bytes"
    return None


def affected(tenant_id: int, sha256: str) -> tuple[list[tuple[str, int, str]], list[str]]:
    """The registered versions (model name, version, path) and artifact paths that hold these bytes."""
    versions = list(
        ModelVersionFile.objects.filter(version__model__tenant_id=tenant_id, sha256=sha256)
        .order_by("version__model__name", "version__version", "path")
        .values_list("version__model__name", "version__version", "path")
    )
    paths = list(
        ArtifactEntry.objects.filter(tenant_id=tenant_id, sha256=sha256)
        .order_by("path")
        .values_list("path", flat=True)
    )
    return versions, paths


def finding_for(blob: Blob, problem: str) -> Finding:
    versions, paths = affected(blob.tenant_id, blob.sha256)
    return Finding(blob.tenant_id, blob.sha256, blob.size, problem, versions, paths)


def tenant_blobs(tenant, model_name: str | None = None):
    """The blobs `verify_artifacts` checks: every blob of the tenant, or those in the versions of one model."""
    blobs = Blob.objects.for_tenant(tenant)
    if model_name is not None:
        model = RegisteredModel.objects.for_tenant(tenant).filter(name=model_name).first()
        if model is None:
            raise NotFound(f"Registered model '{model_name}' not found in tenant '{tenant.slug}'.")
        blobs = blobs.filter(pk__in=ModelVersionFile.objects.filter(version__model=model).values("blob_id"))
    return blobs.order_by("pk")


def verify(blobs: Iterable[Blob]) -> Iterator[tuple[Blob, Finding | None]]:
    """Check each blob, yielding it with its finding (None when intact)."""
    for blob in blobs:
        problem = check_blob(blob)
        yield blob, (finding_for(blob, problem) if problem else None)


def manifest_mismatches(rows: Iterable[tuple[str, int, str, int]]) -> list[str]:
    """Paths of (path, blob id, sha256, size) manifest rows whose Blob row records other bytes: the sha256 and size
    copied along a manifest must be the blob's own. Rows only, no bytes read (registration runs this)."""
    rows = list(rows)
    blobs = {
        pk: (sha, size)
        for pk, sha, size in Blob.objects.filter(pk__in={r[1] for r in rows}).values_list(
            "pk", "sha256", "size"
        )
    }
    return [path for path, blob_id, sha, size in rows if blobs.get(blob_id) != (sha, size)]


def sample(count: int) -> list[Blob]:
    """Up to `count` random blobs of any tenant, found by index (no ORDER BY random() scan of the whole table)."""
    bounds = Blob.objects.aggregate(low=Min("pk"), top=Max("pk"))
    if bounds["top"] is None:
        return []
    chosen: dict[int, Blob] = {}
    for _ in range(count * 2):
        start = random.randint(bounds["low"], bounds["top"])
        blob = Blob.objects.filter(pk__gte=start).order_by("pk").first()
        if blob is not None:
            chosen[blob.pk] = blob
        if len(chosen) >= count:
            break
    return list(chosen.values())
