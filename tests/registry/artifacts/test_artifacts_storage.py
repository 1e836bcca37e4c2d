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
def test_it_streams_bytes_into_content_addressed_storage_once(tenant):
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
    path = os.path.join(str(settings.ARTIFACT_ROOT), artifacts.blob_key(tenant.pk, digest))
    with open(path, "rb") as fh:
        assert fh.read() == data
    again = artifacts.store_bytes(tenant=tenant, data=data)
    assert again.sha256 == digest and not again.newly_stored
    leftovers = os.listdir(os.path.join(str(settings.ARTIFACT_ROOT), ".uploads"))
    assert not [f for f in leftovers if f.startswith("upload-")]


@pytest.mark.django_db
def test_a_streamed_upload_stops_at_the_limit(tenant):
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
