"""Reads of artifacts: a tenant's artifact tree (ArtifactEntry rows), storage use, and the files of registered model
versions served read-only under `_registry/<model pk>/<version>/`. Access is checked through the gatekeeper:
`artifact_experiment` (the experiment owning a path) and `registry_version_for_artifacts`."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Exists, Max, OuterRef, QuerySet, Sum

from config.errors import NotFound
from config.validation import ascii_digits
from registry.models import ModelVersion, ModelVersionFile, RegisteredModel, VersionStatus
from registry.permissions import require, require_experiment
from registry.tracking.models import ArtifactEntry, Blob, Experiment
from tenants.access import Principal

from .storage import immediate_children


def artifact_experiment(principal: Principal, path: str, level: str) -> Experiment:
    """The experiment owning a tenant artifact path (its first segment is the experiment number), with the
    caller's permission checked. A non-numeric first segment or an unknown experiment is a 404."""
    first = path.split("/", 1)[0]
    experiment = (
        Experiment.objects.for_tenant(principal.tenant).filter(number=int(first)).first()
        if ascii_digits(first) and len(first) < 19
        else None
    )
    if experiment is None:
        raise NotFound(f"No artifact at '{path}'.")
    require_experiment(
        principal, experiment, level, action="write artifacts" if level != "read" else "read artifacts"
    )
    return experiment


def artifact_entry(principal: Principal, path: str) -> ArtifactEntry | None:
    """The file at a tenant artifact path (the caller's read permission is checked by the caller)."""
    return ArtifactEntry.objects.for_tenant(principal.tenant).filter(path=path).first()


def artifact_list(principal: Principal, path: str) -> list[dict]:
    """Immediate children of a directory of the tenant's artifact tree; [] for a file or a missing path."""
    prefix = f"{path}/" if path else ""
    rows = (
        ArtifactEntry.objects.for_tenant(principal.tenant)
        .filter(path__startswith=prefix)
        .values_list("path", "size")
    )
    return immediate_children(path, rows.iterator(chunk_size=2000))


def blob_recorded(tenant, sha256: str) -> bool:
    return Blob.objects.for_tenant(tenant).filter(sha256=sha256).exists()


def referenced_blobs(tenant) -> QuerySet[Blob]:
    """The tenant's blobs that some row still references (an artifact tree entry or a version's snapshot)."""
    return Blob.objects.for_tenant(tenant).filter(
        Exists(ArtifactEntry.objects.filter(blob_id=OuterRef("pk")))
        | Exists(ModelVersionFile.objects.filter(blob_id=OuterRef("pk")))
    )


def tenant_storage_used(tenant) -> int:
    """Bytes of the distinct blobs the tenant references: what is kept, not what was ever stored (unreferenced
    blobs are garbage collected and never count against the quota)."""
    return referenced_blobs(tenant).aggregate(total=Sum("size"))["total"] or 0


def tenant_usage(tenant) -> dict[str, int | None]:
    """What the quotas count, with the quotas (None: unlimited)."""
    counts = (
        RegisteredModel.objects.for_tenant(tenant)
        .annotate(n=Count("versions"))
        .aggregate(models=Count("pk"), most=Max("n"))
    )
    return {
        "storage_bytes": tenant_storage_used(tenant),
        "quota_storage_bytes": tenant.quota_storage_bytes,
        "models": counts["models"] or 0,
        "quota_models": tenant.quota_models,
        "max_versions_in_a_model": counts["most"] or 0,
        "quota_versions_per_model": tenant.quota_versions_per_model,
    }


def remaining_quota(tenant) -> int | None:
    """Bytes the tenant may still store (None: no quota)."""
    if tenant.quota_storage_bytes is None:
        return None
    return max(0, tenant.quota_storage_bytes - tenant_storage_used(tenant))


def registry_version_for_artifacts(principal: Principal, model_pk: Any, version: Any) -> ModelVersion:
    """A READY model version of the caller's tenant that the caller may read (its files are served read-only under
    `_registry/<model pk>/<version>/`); anything else is a 404."""
    if (
        not ascii_digits(str(model_pk))
        or not ascii_digits(str(version))
        or len(str(model_pk)) > 18
        or len(str(version)) > 9
    ):
        raise NotFound("Model version artifacts not found.")
    found = (
        ModelVersion.objects.select_related("model")
        .filter(
            model__tenant=principal.tenant,
            model_id=int(model_pk),
            version=int(version),
            status=VersionStatus.READY,
        )
        .first()
    )
    if found is None:
        raise NotFound("Model version artifacts not found.")
    require(principal, found.model, "read", action="read model version artifacts")
    return found


def registry_file(version: ModelVersion, path: str) -> ModelVersionFile | None:
    return ModelVersionFile.objects.filter(version=version, path=path).first()


def registry_list(version: ModelVersion, path: str) -> list[dict]:
    prefix = f"{path}/" if path else ""
    rows = ModelVersionFile.objects.filter(version=version, path__startswith=prefix).values_list(
        "path", "size"
    )
    return immediate_children(path, rows)
