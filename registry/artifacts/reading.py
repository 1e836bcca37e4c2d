"""Reading stored blobs as streams: whole or a byte range, and re-hashing them. No database access.

Never through `Storage.open()`: django-storages' `S3File` downloads the whole object into an in-memory spooled file
before the first byte can be read (a 200 MB download grew the web process by as much). Here S3 objects are read
with `get_object()` (with its `Range` parameter for partial reads) and iterated in 1 MiB chunks, files with a seek
and bounded reads, so memory stays flat in the blob's size."""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections.abc import Iterator
from typing import Any

from django.core.files.storage import FileSystemStorage

from config.errors import NotFound

from .storage import CHUNK_SIZE, backend, blob_key, is_s3, s3_key


class BlobStream:
    """An iterable of the bytes of one blob (or a range of it), to hand to a StreamingHttpResponse, which closes it
    at the end of the response (so an aborted download releases its file or HTTP connection)."""

    def __init__(self, chunks: Iterator[bytes], closer) -> None:
        self._chunks = chunks
        self._closer = closer

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        self._closer()


def _missing() -> NotFound:
    return NotFound("The artifact's content is missing from storage.")


def open_range(tenant_id: int, sha256: str, start: int = 0, end: int | None = None) -> BlobStream:
    """The bytes `start`..`end` (inclusive; None: to the end) of a stored blob. Opens eagerly, so a missing object
    is a NotFound before any response has started."""
    key = blob_key(tenant_id, sha256)
    store = backend()
    if is_s3(store):
        from botocore.exceptions import ClientError

        params = {"Bucket": store.bucket_name, "Key": s3_key(store, key)}
        if start or end is not None:
            params["Range"] = f"bytes={start}-{'' if end is None else end}"
        try:
            body = store.connection.meta.client.get_object(**params)["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                raise _missing() from exc
            raise
        return BlobStream(body.iter_chunks(CHUNK_SIZE), body.close)
    if not isinstance(store, FileSystemStorage):  # any other Storage: the generic API, still chunked
        try:
            handle = store.open(key, "rb")
        except FileNotFoundError as exc:
            raise _missing() from exc
    else:
        try:
            handle = open(store.path(key), "rb")  # closed by BlobStream.close
        except FileNotFoundError as exc:
            raise _missing() from exc
    handle.seek(start)

    def chunks() -> Iterator[bytes]:
        remaining = None if end is None else end - start + 1
        while remaining is None or remaining > 0:
            chunk = handle.read(CHUNK_SIZE if remaining is None else min(CHUNK_SIZE, remaining))
            if not chunk:
                return
            if remaining is not None:
                remaining -= len(chunk)
            yield chunk

    return BlobStream(chunks(), handle.close)


def hash_blob(tenant_id: int, sha256: str) -> tuple[str, int] | None:
    """Re-read a stored blob (streaming) and return its actual (sha256, size); None when it is missing."""
    try:
        stream = open_range(tenant_id, sha256)
    except NotFound:
        return None
    digest = hashlib.sha256()
    size = 0
    try:
        for chunk in stream:
            digest.update(chunk)
            size += len(chunk)
    finally:
        stream.close()
    return digest.hexdigest(), size


def presigned_url(tenant_id: int, sha256: str, *, filename: str, content_type: str, ttl: int) -> str | None:
    """A presigned S3 GET of a blob, valid for `ttl` seconds, whose response carries `content_type` and an
    attachment `filename` (the blob's key is a digest: the client would otherwise save it under that name). None
    when the backend cannot presign (files). Signing is local computation, no request to S3: callers authorise
    and audit first, and the URL grants nothing beyond this one object until it expires."""
    store = backend()
    if not is_s3(store):
        return None
    from django.utils.http import content_disposition_header

    return _presigner(store).generate_presigned_url(
        "get_object",
        Params={
            "Bucket": store.bucket_name,
            "Key": s3_key(store, blob_key(tenant_id, sha256)),
            "ResponseContentDisposition": content_disposition_header(True, filename),
            "ResponseContentType": content_type,
        },
        ExpiresIn=ttl,
    )


_presigners: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_presigners_lock = threading.Lock()


def _presigner(store) -> Any:
    """A boto3 client of the store's session and endpoint that signs with SigV4. Not the store's own client: unless a
    signature version is configured, botocore presigns S3 URLs with the legacy SigV2 (`AWSAccessKeyId`,
    `Signature`, `Expires`), which AWS refuses in newer regions and for KMS-encrypted objects. One per storage
    instance (boto3 clients are thread-safe); a settings change makes a new storage, hence a new client."""
    with _presigners_lock:
        client = _presigners.get(store)
        if client is None:
            from botocore.config import Config

            client = store._create_session().client(
                "s3",
                region_name=store.region_name,
                use_ssl=store.use_ssl,
                endpoint_url=store.endpoint_url,
                config=store.client_config.merge(Config(signature_version="s3v4")),
                verify=store.verify,
            )
            _presigners[store] = client
        return client
