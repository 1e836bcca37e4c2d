"""The artifact storage layer: path validation, content-addressed streaming storage, listing."""

from __future__ import annotations

import hashlib
import os

import pytest
from django.conf import settings

from config.errors import InvalidParameter
from registry import artifacts


@pytest.mark.parametrize(
    "path",
    [
        "../x",
        "a/../../b",
        "/etc/passwd",
        "a\\b",
        "a\x00b",
        "a" * 1025,
        "a//b",
        "./a",
        "a/./b",
        "..",
        "C:/x",
        "a/\nb",
        "",
    ],
)
def test_it_refuses_malicious_or_malformed_paths(path):
    with pytest.raises(InvalidParameter) as exc:
        artifacts.validate_artifact_path(path)
    assert exc.value.code == "INVALID_PARAMETER_VALUE"


def test_it_accepts_and_normalises_ordinary_paths():
    assert (
        artifacts.validate_artifact_path("1/abc/artifacts/model/MLmodel") == "1/abc/artifacts/model/MLmodel"
    )
    assert artifacts.validate_artifact_path("1/abc/artifacts/dir/") == "1/abc/artifacts/dir"
    assert artifacts.validate_artifact_path("", allow_empty=True) == ""
    assert artifacts.validate_artifact_path("a b/c..d/é.txt") == "a b/c..d/é.txt"


def test_blob_keys_come_from_the_tenant_id_and_digest_only():
    digest = hashlib.sha256(b"x").hexdigest()
    assert artifacts.blob_key(7, digest) == f"tenants/7/blobs/sha256/{digest[:2]}/{digest}"
    with pytest.raises(ValueError):
        artifacts.blob_key(7, "../../etc/passwd")


@pytest.mark.django_db
def test_it_streams_bytes_into_content_addressed_storage_once(tenant, artifact_backend):
    data = os.urandom(3 * artifacts.CHUNK_SIZE + 17)
    reads = []
    position = 0

    def read(n):
        nonlocal position
        reads.append(n)
        chunk = data[position : position + n]
        position += len(chunk)
        return chunk

    stored = artifacts.store_stream(tenant=tenant, read=read)
    digest = hashlib.sha256(data).hexdigest()
    assert stored.sha256 == digest and stored.size == len(data) and stored.newly_stored
    assert set(reads) == {artifacts.CHUNK_SIZE}  # read in bounded chunks, never all at once
    key = artifacts.blob_key(tenant.pk, digest)
    assert key in artifact_backend.keys()
    assert artifact_backend.read(key) == data
    again = artifacts.store_bytes(tenant=tenant, data=data)
    assert again.sha256 == digest and not again.newly_stored
    if artifact_backend.name == "file":
        leftovers = os.listdir(os.path.join(str(settings.ARTIFACT_ROOT), ".uploads"))
        assert not [f for f in leftovers if f.startswith("upload-")]


@pytest.mark.django_db
def test_s3_uploads_past_one_part_go_as_bounded_multipart_uploads(tenant, s3_backend, settings):
    from botocore.client import BaseClient

    settings.ARTIFACT_S3_PART_SIZE = 5 * 1024 * 1024  # S3's minimum part size
    data = os.urandom(12 * 1024 * 1024)
    calls = []
    original = BaseClient._make_api_call

    def spy(self, operation, params):
        calls.append((operation, len(params["Body"].read()) if operation == "UploadPart" else None))
        if operation == "UploadPart":
            params["Body"].seek(0)
        return original(self, operation, params)

    from unittest import mock

    with mock.patch.object(BaseClient, "_make_api_call", spy):
        stored = artifacts.store_bytes(tenant=tenant, data=data)
    operations = [op for op, _ in calls]
    assert "CreateMultipartUpload" in operations and "CompleteMultipartUpload" in operations
    assert "PutObject" not in operations
    assert sorted(n for op, n in calls if op == "UploadPart") == [
        2 * 1024 * 1024,
        5 * 1024 * 1024,
        5 * 1024 * 1024,
    ]
    assert s3_backend.read(artifacts.blob_key(tenant.pk, stored.sha256)) == data


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("start", "end"), [(0, None), (5, 9), (0, 0), (3 * 1024 * 1024 - 2, None), (7, 3 * 1024 * 1024 + 5)]
)
def test_a_blob_reads_back_whole_or_by_range_in_bounded_chunks(tenant, artifact_backend, start, end):
    data = os.urandom(3 * 1024 * 1024 + 10)
    stored = artifacts.store_bytes(tenant=tenant, data=data)
    stream = artifacts.open_range(tenant.pk, stored.sha256, start, end)
    try:
        chunks = list(stream)
    finally:
        stream.close()
    assert b"".join(chunks) == data[start : None if end is None else end + 1]
    assert max(len(c) for c in chunks) <= artifacts.CHUNK_SIZE
    assert artifacts.hash_blob(tenant.pk, stored.sha256) == (stored.sha256, len(data))


@pytest.mark.django_db
def test_a_missing_blob_is_not_found_and_hashes_to_nothing(tenant, artifact_backend):
    from config.errors import NotFound

    stored = artifacts.store_bytes(tenant=tenant, data=b"gone soon")
    artifact_backend.remove(artifacts.blob_key(tenant.pk, stored.sha256))
    with pytest.raises(NotFound):
        artifacts.open_range(tenant.pk, stored.sha256)
    assert artifacts.hash_blob(tenant.pk, stored.sha256) is None


@pytest.mark.django_db
def test_a_streamed_upload_stops_at_the_limit(tenant, artifact_backend):
    from config.errors import QuotaExceeded

    with pytest.raises(QuotaExceeded):
        chunks = iter([b"x" * 10, b"y" * 10, b""])
        artifacts.store_stream(tenant=tenant, read=lambda n: next(chunks), limit=15)


def test_listing_shows_immediate_children_only():
    rows = [
        ("1/r/artifacts/a.txt", 3),
        ("1/r/artifacts/model/MLmodel", 10),
        ("1/r/artifacts/model/sub/x", 1),
        ("1/r/artifactsX/b", 1),
    ]
    assert artifacts.immediate_children("1/r/artifacts", rows) == [
        {"path": "a.txt", "is_dir": False, "file_size": 3},
        {"path": "model", "is_dir": True},
    ]
    assert artifacts.immediate_children("1/r/artifacts/a.txt", rows) == []
    assert artifacts.immediate_children("missing", rows) == []
