"""Artifacts: content-addressed blob storage (`storage`), the rows recording what is stored and where it shows in a
tenant's artifact tree (`services` writes them, `selectors` reads them; the Blob and ArtifactEntry models live in
`registry.tracking.models` for migration history).

`from registry import artifacts` keeps giving the storage functions (`artifacts.store_stream`, `artifacts.blob_key`,
…). The services and selectors are imported as modules (`from registry.artifacts import services`), not re-exported
here: `registry.tracking.models` imports `storage`, and they import the models."""

from __future__ import annotations

from .reading import BlobStream, hash_blob, open_range, presigned_url
from .storage import (
    CHUNK_SIZE,
    MAX_PATH_LENGTH,
    StoredBlob,
    backend,
    blob_key,
    content_type_for,
    delete_blob_object,
    immediate_children,
    in_transaction,
    join,
    quota_error,
    store_bytes,
    store_stream,
    validate_artifact_path,
)

__all__ = [
    "CHUNK_SIZE",
    "MAX_PATH_LENGTH",
    "StoredBlob",
    "blob_key",
    "content_type_for",
    "delete_blob_object",
    "immediate_children",
    "in_transaction",
    "join",
    "BlobStream",
    "hash_blob",
    "open_range",
    "presigned_url",
    "quota_error",
    "backend",
    "store_bytes",
    "store_stream",
    "validate_artifact_path",
]
