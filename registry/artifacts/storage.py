"""Artifact storage: content-addressed blobs per tenant over `storages["artifacts"]` (local files or S3). No
database access here: rows (Blob, ArtifactEntry) are written by `registry.artifacts.services` and read by
`registry.artifacts.selectors`.

An upload streams the request body into a temporary file while hashing it (memory stays flat in the file's size),
then puts the bytes at `tenants/<tenant id>/blobs/sha256/<aa>/<digest>` unless that blob is already stored (on S3
with boto3's managed transfer from the file: a multipart upload in `S3_PART_SIZE_MB` parts, at most
`S3_MAX_CONCURRENCY` in flight, so memory stays bounded by those, never by the file). Only
after that does a service record the Blob and the ArtifactEntry (path → blob) in a short transaction: storage I/O
never happens inside a database transaction.

Blob keys are derived from the tenant's id and the digest we computed, never from a user's path, so no path a
client sends can reach outside its tenant's storage. User paths only name ArtifactEntry rows, and are validated
(`validate_artifact_path`) before anything else looks at them.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import posixpath
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, storages
from django.db import transaction

from config.errors import InvalidParameter, QuotaExceeded
from config.validation import check_name

CHUNK_SIZE = 1024 * 1024
MAX_PATH_LENGTH = 1024


def backend():
    """The configured storage backend (`STORAGES["artifacts"]`: file system or S3)."""
    return storages["artifacts"]


def blob_key(tenant_id: int, sha256: str) -> str:
    """The one place the blob key layout is written: `tenants/<tenant id>/blobs/sha256/<aa>/<digest>`."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError("not a sha256 hex digest")
    return f"tenants/{int(tenant_id)}/blobs/sha256/{sha256[:2]}/{sha256}"


# --- paths -------------------------------------------------------------------------------------------------------


def validate_artifact_path(path: str | None, *, allow_empty: bool = False) -> str:
    """Validate a client's artifact path and return it normalised (no leading or trailing slash).

    Refused with 400 INVALID_PARAMETER_VALUE: `..` and `.` segments, absolute paths, backslashes, NUL and other
    control characters, bidirectional and other invisible formatting characters, empty segments (`a//b`), and paths longer than 1024 characters. (URL-decoding happens
    before this, so `%2e%2e/` and `%00` arrive as `../` and NUL.)"""
    if path is None:
        path = ""
    if not isinstance(path, str):
        raise InvalidParameter("The artifact path must be a string.")
    if len(path) > MAX_PATH_LENGTH:
        raise InvalidParameter(f"Invalid artifact path: longer than {MAX_PATH_LENGTH} characters.")
    if any(ord(c) < 0x20 or c == "\x7f" for c in path):
        raise InvalidParameter("Invalid artifact path: control characters (NUL included) are not allowed.")
    # C1 controls, bidirectional overrides (a right-to-left override makes `x\u202egnp.exe` show as `xexe.png`)
    # and other invisible formatting characters.
    check_name(path, "path")
    if "\\" in path:
        raise InvalidParameter("Invalid artifact path: backslashes are not allowed.")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        raise InvalidParameter(f"Invalid artifact path '{path}': absolute paths are not allowed.")
    normalised = path[:-1] if path.endswith("/") else path
    if not normalised:
        if allow_empty:
            return ""
        raise InvalidParameter("Invalid artifact path: the path is empty.")
    for segment in normalised.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidParameter(
                f"Invalid artifact path '{path}': empty, '.' and '..' segments are not allowed."
            )
    return normalised


def content_type_for(path: str) -> str:
    guessed, _ = mimetypes.guess_type(posixpath.basename(path))
    return guessed or "application/octet-stream"


def in_transaction() -> bool:
    """Inside a transaction of our own (the test runner's wrapping transaction does not count)."""
    connection = transaction.get_connection()
    return any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


# --- upload ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    size: int
    newly_stored: bool  # False when the tenant already had these bytes


def quota_error(tenant) -> QuotaExceeded:
    return QuotaExceeded(
        f"Storage quota of tenant '{tenant.slug}' exceeded ({tenant.quota_storage_bytes} bytes)."
    )


def _temp_dir() -> str | None:
    """For the file system backend, spool into a directory on the same file system, so the final step is an
    atomic rename rather than a second copy."""
    store = backend()
    if isinstance(store, FileSystemStorage):
        path = os.path.join(store.location, ".uploads")
        os.makedirs(path, exist_ok=True)
        return path
    return None


def store_stream(*, tenant, read: Callable[[int], bytes], limit: int | None = None) -> StoredBlob:
    """Stream bytes from `read(n)` into the tenant's blob store; returns the digest and size.

    `limit` (bytes) stops reading as soon as more arrive than the tenant's quota leaves, so a huge upload cannot fill
    the disk before being refused. Must not run inside a transaction (storage I/O)."""
    if in_transaction():
        # A programming error, not a client's: storage I/O would hold row locks for the length of an upload.
        raise RuntimeError("storage I/O inside a database transaction")
    digest = hashlib.sha256()
    size = 0
    fd, tmp_path = tempfile.mkstemp(prefix="upload-", dir=_temp_dir())
    try:
        with os.fdopen(fd, "wb") as out:
            while True:
                chunk = read(CHUNK_SIZE)
                if not chunk:
                    break
                size += len(chunk)
                if limit is not None and size > limit:
                    raise quota_error(tenant)
                digest.update(chunk)
                out.write(chunk)
        sha256 = digest.hexdigest()
        newly_stored = _put(tenant.pk, sha256, tmp_path)
        return StoredBlob(sha256=sha256, size=size, newly_stored=newly_stored)
    finally:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)


def store_bytes(*, tenant, data: bytes) -> StoredBlob:
    """Store a small in-memory payload (tests, generated files)."""
    view = memoryview(data)
    position = 0

    def read(n: int) -> bytes:
        nonlocal position
        chunk = bytes(view[position : position + n])
        position += len(chunk)
        return chunk

    return store_stream(tenant=tenant, read=read)


def _put(tenant_id: int, sha256: str, tmp_path: str) -> bool:
    key = blob_key(tenant_id, sha256)
    store = backend()
    if isinstance(store, FileSystemStorage):
        final = store.path(key)
        if os.path.exists(final):
            return False
        os.makedirs(os.path.dirname(final), exist_ok=True)
        # Same content under the same name: a concurrent upload of identical bytes can only replace it with itself.
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, final)
        return True
    if store.exists(key):
        return False
    if is_s3(store):
        # Not `store.save()`: django-storages' default TransferConfig allows 10 threads of 8 MiB parts buffered at
        # once; boto3's `upload_file` from our spool file with a bounded config reads each part from disk as it is
        # sent, so a web process's memory does not grow with the upload.
        store.connection.meta.client.upload_file(
            tmp_path,
            store.bucket_name,
            s3_key(store, key),
            ExtraArgs={"ContentType": "application/octet-stream"},
            Config=s3_transfer_config(),
        )
        return True
    with open(tmp_path, "rb") as fh:
        saved = store.save(key, File(fh, name=key))
    if saved != key:  # a backend that renames on collision: keep the first copy, drop ours
        store.delete(saved)
    return True


def is_s3(store) -> bool:
    """An S3Storage (django-storages), whose boto3 client we use directly for streaming transfers."""
    return hasattr(store, "bucket_name") and hasattr(store, "connection")


def s3_key(store, key: str) -> str:
    """The object key of a storage name (S3Storage prepends its `location`, if configured)."""
    return store._normalize_name(key)


def s3_transfer_config():
    from boto3.s3.transfer import TransferConfig

    part = settings.ARTIFACT_S3_PART_SIZE
    concurrency = settings.ARTIFACT_S3_MAX_CONCURRENCY
    # Memory in flight is about part size × concurrency: both bounded by settings.
    return TransferConfig(
        multipart_threshold=part,
        multipart_chunksize=part,
        max_concurrency=concurrency,
        max_io_queue=concurrency,
        use_threads=concurrency > 1,
    )


def blob_object_exists(tenant_id: int, sha256: str) -> bool:
    return backend().exists(blob_key(tenant_id, sha256))


def delete_blob_object(tenant_id: int, sha256: str) -> None:
    """Remove a stored object. Only `registry.artifacts.services` calls it, when an upload's bytes were recorded by
    nobody, under the placeholder Blob row that keeps a concurrent recorder out."""
    key = blob_key(tenant_id, sha256)
    store = backend()
    if store.exists(key):
        store.delete(key)


# --- listing -----------------------------------------------------------------------------------------------------


def immediate_children(directory: str, entries: Iterable[tuple[str, int]]) -> list[dict]:
    """MLflow's `FileInfo` list for a directory, from (path, size) rows under it: immediate children only, dirs
    without a size, sorted by path."""
    prefix = f"{directory}/" if directory else ""
    files: dict[str, dict] = {}
    for path, size in entries:
        if not path.startswith(prefix):
            continue
        rest = path[len(prefix) :]
        if not rest:
            continue
        name, sep, _ = rest.partition("/")
        if sep:
            files.setdefault(name, {"path": name, "is_dir": True})
            if not files[name]["is_dir"]:  # both a file and a directory of that name: show the directory
                files[name] = {"path": name, "is_dir": True}
        elif name not in files:
            files[name] = {"path": name, "is_dir": False, "file_size": size}
    return [files[k] for k in sorted(files)]


def join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))
