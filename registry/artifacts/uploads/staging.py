"""Storage I/O of resumable uploads, no database: parts are staged where the backend can assemble them, and
assembly produces the content-addressed blob through `registry.artifacts.storage`.

- File backend: each part is a file `<ARTIFACT_ROOT>/.uploads/sessions/<session id>/<number>`, written to a
  temporary name beside it while hashed and renamed into place once whole (re-sending a part replaces it
  atomically). Assembly concatenates them, in order, into one spool file while hashing it, and renames that to
  the blob key (`storage._put`): every byte is read once and written once.
- S3: a session is one multipart upload to the staging key `tenants/<tenant id>/uploads/<session id>`; a part's
  body is spooled to a temporary file (S3 needs its length and checksum before sending) and sent with `upload_part`
  (re-sending a number replaces the part on S3). Assembly completes the multipart upload, streams the staging object
  once to hash it (SHA-256 cannot be combined from parts hashed out of order), then copies it server side to the blob
  key and deletes the staging object.

A part's body is never held in memory: it goes through the 1 MiB chunks of `storage.CHUNK_SIZE`."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from botocore.exceptions import ClientError
from django.core.files.storage import FileSystemStorage

from config.errors import Conflict, InvalidParameter

from .. import storage

SINGLE_COPY_LIMIT = 5 * 1024**3  # S3's largest CopyObject


def _is_file_backend() -> bool:
    return isinstance(storage.backend(), FileSystemStorage)


def _session_dir(session_id: str) -> str:
    store = storage.backend()
    return os.path.join(store.location, ".uploads", "sessions", str(session_id))


def staging_key(tenant_id: int, session_id: str) -> str:
    """The S3 key a session's multipart upload completes into (outside `blobs/`: GC never lists it)."""
    return f"tenants/{int(tenant_id)}/uploads/{session_id}"


def _s3():
    store = storage.backend()
    return store, store.connection.meta.client


@dataclass(frozen=True)
class StoredPart:
    size: int
    sha256: str
    etag: str
    stored_key: str


def begin(tenant_id: int, session_id: str) -> str:
    """Prepare the staging area; returns the S3 multipart upload id ('' on the file backend)."""
    if _is_file_backend():
        os.makedirs(_session_dir(session_id), exist_ok=True)
        return ""
    store, client = _s3()
    answer = client.create_multipart_upload(
        Bucket=store.bucket_name,
        Key=storage.s3_key(store, staging_key(tenant_id, session_id)),
        ContentType="application/octet-stream",
    )
    return answer["UploadId"]


def _spool(read: Callable[[int], bytes], expected: int, out) -> str:
    """Copy exactly `expected` bytes from `read` into `out` while hashing them; a body that ends early (a broken
    connection) or runs long is refused, and the caller keeps nothing."""
    digest = hashlib.sha256()
    size = 0
    while size < expected:
        chunk = read(min(storage.CHUNK_SIZE, expected - size))
        if not chunk:
            raise InvalidParameter(
                f"The part's body ended after {size} of its {expected} bytes; nothing of it was kept: send it again."
            )
        size += len(chunk)
        digest.update(chunk)
        out.write(chunk)
    return digest.hexdigest()


def store_part(
    *,
    tenant_id: int,
    session_id: str,
    upload_id: str,
    number: int,
    expected: int,
    read: Callable[[int], bytes],
) -> StoredPart:
    """Stage part `number` from the stream (exactly `expected` bytes); replaces a part of that number."""
    if storage.in_transaction():
        raise RuntimeError("storage I/O inside a database transaction")
    if _is_file_backend():
        directory = _session_dir(session_id)
        if not os.path.isdir(directory):  # removed by an abort or the expiry sweep meanwhile
            raise Conflict("The upload session no longer accepts parts.")
        # A name of its own for every attempt: a re-sent part never overwrites the file a recorded row names (the
        # service removes the replaced file after its row commits).
        fd, path = tempfile.mkstemp(prefix=f"{number}.", suffix=".part", dir=directory)
        try:
            with os.fdopen(fd, "wb") as out:
                sha256 = _spool(read, expected, out)
        except BaseException:
            os.unlink(path)
            raise
        return StoredPart(size=expected, sha256=sha256, etag="", stored_key=os.path.basename(path))
    store, client = _s3()
    key = storage.s3_key(store, staging_key(tenant_id, session_id))
    with tempfile.TemporaryFile(prefix="upload-part-") as spool:
        sha256 = _spool(read, expected, spool)
        spool.seek(0)
        try:
            answer = client.upload_part(
                Bucket=store.bucket_name,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=spool,
                ContentLength=expected,
            )
        except client.exceptions.NoSuchUpload:
            # Aborted or expired (and its multipart upload with it) while this part was arriving.
            raise Conflict("The upload session no longer accepts parts.") from None
    return StoredPart(size=expected, sha256=sha256, etag=answer["ETag"], stored_key=f"{key}#{number}")


def remove_part_file(session_id: str, stored_key: str) -> None:
    """Drop a part file nobody records (refused, or replaced by a re-sent part). File backend only: on S3 a part
    number has one part, replaced in place, and the rest goes with the multipart upload."""
    if not _is_file_backend() or "/" in stored_key or not stored_key:
        return
    path = os.path.join(_session_dir(session_id), stored_key)
    if os.path.exists(path):
        os.unlink(path)


def discard(tenant_id: int, session_id: str, upload_id: str) -> None:
    """Remove everything staged for a session: part files, or the multipart upload and the staging object.
    Idempotent (the expiry sweep retries what failed)."""
    if _is_file_backend():
        shutil.rmtree(_session_dir(session_id), ignore_errors=True)
        return
    store, client = _s3()
    key = storage.s3_key(store, staging_key(tenant_id, session_id))
    if upload_id:
        try:
            client.abort_multipart_upload(Bucket=store.bucket_name, Key=key, UploadId=upload_id)
        except client.exceptions.NoSuchUpload:
            pass  # completed or aborted before
    client.delete_object(Bucket=store.bucket_name, Key=key)


class PartsChanged(Exception):
    """The stored parts are not the ones recorded (final for the session, not worth a retry)."""


@dataclass(frozen=True)
class Assembled:
    sha256: str
    size: int
    spool_path: str  # file backend: the concatenated file, to be put at the blob key; '' on S3


def assemble(
    *, tenant_id: int, session_id: str, upload_id: str, parts: Sequence[tuple[int, str, str]]
) -> Assembled:
    """Join the parts `(number, etag, stored key)` in order and hash the result (see the module docstring)."""
    if storage.in_transaction():
        raise RuntimeError("storage I/O inside a database transaction")
    digest = hashlib.sha256()
    size = 0
    if _is_file_backend():
        directory = _session_dir(session_id)
        fd, spool_path = tempfile.mkstemp(prefix="assemble-", dir=storage._temp_dir())
        try:
            with os.fdopen(fd, "wb") as out:
                for _number, _etag, name in parts:
                    with open(os.path.join(directory, name), "rb") as part:
                        while chunk := part.read(storage.CHUNK_SIZE):
                            digest.update(chunk)
                            size += len(chunk)
                            out.write(chunk)
        except BaseException:
            os.unlink(spool_path)
            raise
        return Assembled(sha256=digest.hexdigest(), size=size, spool_path=spool_path)
    store, client = _s3()
    key = storage.s3_key(store, staging_key(tenant_id, session_id))
    try:
        client.complete_multipart_upload(
            Bucket=store.bucket_name,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag, _key in parts]},
        )
    except client.exceptions.NoSuchUpload:
        # A previous attempt completed it and then died: the staging object is there (else this raises below).
        pass
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "InvalidPart":
            # A part re-sent while the session was being completed replaced the one recorded.
            raise PartsChanged(
                "A part changed while the upload was being completed; upload it again."
            ) from exc
        raise
    body = client.get_object(Bucket=store.bucket_name, Key=key)["Body"]
    try:
        for chunk in body.iter_chunks(storage.CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
    finally:
        body.close()
    return Assembled(sha256=digest.hexdigest(), size=size, spool_path="")


def store_assembled(*, tenant_id: int, session_id: str, assembled: Assembled) -> bool:
    """Put the assembled bytes at their content-addressed key; False when the tenant already had them."""
    if assembled.spool_path:
        try:
            return storage._put(tenant_id, assembled.sha256, assembled.spool_path)
        finally:
            if os.path.exists(assembled.spool_path):
                os.unlink(assembled.spool_path)
    store, client = _s3()
    final = storage.blob_key(tenant_id, assembled.sha256)
    if store.exists(final):
        return False
    source = {"Bucket": store.bucket_name, "Key": storage.s3_key(store, staging_key(tenant_id, session_id))}
    # Server side: the bytes never pass through this process again. One CopyObject up to S3's 5 GiB limit for it;
    # beyond, boto3's managed copy (UploadPartCopy in parts).
    if assembled.size <= SINGLE_COPY_LIMIT:
        client.copy_object(
            CopySource=source,
            Bucket=store.bucket_name,
            Key=storage.s3_key(store, final),
            ContentType="application/octet-stream",
            MetadataDirective="REPLACE",
        )
    else:
        client.copy(
            source,
            store.bucket_name,
            storage.s3_key(store, final),
            ExtraArgs={"ContentType": "application/octet-stream"},
            Config=storage.s3_transfer_config(),
        )
    return True


def drop_spool(assembled: Assembled) -> None:
    if assembled.spool_path and os.path.exists(assembled.spool_path):
        os.unlink(assembled.spool_path)
