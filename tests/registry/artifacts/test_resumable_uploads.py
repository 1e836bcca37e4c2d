"""Resumable uploads through the native API (`/t/<tenant>/api/v1/uploads…`) on both backends, completed by a real
Celery worker: resuming after a broken part, parts in any order and re-sent, a wrong sha256, the quota, access,
abort and expiry."""

from __future__ import annotations

import hashlib
import io
import os
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from registry.artifacts.uploads.models import UploadSession, UploadStatus
from registry.artifacts.uploads.tasks import expire_upload_sessions
from registry.models import AuditEvent
from registry.tracking import services as tracking_services
from registry.tracking.models import ArtifactEntry, Blob
from tenants import services as tenant_services
from tests.helpers import principal

MIB = 1024 * 1024
PART = 5 * MIB
UPLOADS = "/t/acme/api/v1/uploads"


def new_run(user, tenant):
    me = principal(user, tenant)
    experiment = tracking_services.experiment_create(principal=me, name="resumable")
    return tracking_services.run_create(principal=me, experiment=experiment, run_name="r")


def payload(size: int) -> bytes:
    return os.urandom(size)


class ShortBody(io.BytesIO):
    """A request body that ends before its Content-Length: what the server reads when the client's connection
    breaks mid-body."""


def put_part(client, session_id: str, number: int, data: bytes, *, declared: int | None = None):
    extra = {}
    if declared is not None:
        extra = {"CONTENT_LENGTH": str(declared), "wsgi.input": ShortBody(data)}
        data = b""
    return client.put(
        f"{UPLOADS}/{session_id}/parts/{number}", data=data, content_type="application/octet-stream", **extra
    )


def open_session(client, run, *, size: int, path: str = "model/data.bin", **extra):
    return client.post(
        UPLOADS, {"run_id": run.run_id, "path": path, "size": size, "part_size": PART, **extra}, format="json"
    )


def wait_finished(session_id: str, timeout: float = 120) -> UploadSession:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        session = UploadSession.objects.get(pk=session_id)
        if session.status in (UploadStatus.COMPLETED, UploadStatus.FAILED):
            return session
        time.sleep(0.2)
    raise AssertionError(f"upload {session_id} still {session.status}")


def staged_of(backend, session_id: str) -> set[str]:
    return {k for k in backend.staged() if session_id in k}


def download(client, path: str) -> bytes:
    response = client.get(f"/t/acme/api/2.0/mlflow-artifacts/artifacts/{path}")
    assert response.status_code == 200
    return b"".join(response.streaming_content)


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(300)
def test_an_upload_broken_half_way_completes_after_resuming_and_downloads_byte_for_byte(
    backend_with_worker, api, owner, tenant
):
    client = api(owner, tenant)
    run = new_run(owner, tenant)
    data = payload(2 * PART + MIB)
    digest = hashlib.sha256(data).hexdigest()
    created = open_session(client, run, size=len(data), sha256=digest)
    assert created.status_code == 201, created.json()
    session_id = created.json()["id"]
    assert created.json()["part_count"] == 3 and created.json()["missing_parts"] == [1, 2, 3]

    assert put_part(client, session_id, 1, data[:PART]).status_code == 200
    # Part 2's connection breaks after half of it: refused, nothing of it kept.
    broken = put_part(client, session_id, 2, data[PART : PART + PART // 2], declared=PART)
    assert broken.status_code == 400, broken.json()
    assert broken.json()["error_code"] == "INVALID_PARAMETER_VALUE"

    # Resume: ask what is stored, send what is missing.
    state = client.get(f"{UPLOADS}/{session_id}").json()
    assert [p["number"] for p in state["parts"]] == [1]
    assert state["parts"][0]["sha256"] == hashlib.sha256(data[:PART]).hexdigest()
    assert state["missing_parts"] == [2, 3]
    early = client.post(f"{UPLOADS}/{session_id}/complete")
    assert early.status_code == 409 and early.json()["details"] == {"missing_parts": [2, 3]}
    for number in state["missing_parts"]:
        chunk = data[(number - 1) * PART : number * PART]
        assert put_part(client, session_id, number, chunk).status_code == 200

    done = client.post(f"{UPLOADS}/{session_id}/complete")
    assert done.status_code == 202 and done.json()["status"] in ("completing", "completed")
    session = wait_finished(session_id)
    assert session.status == UploadStatus.COMPLETED, (session.error_code, session.error_message)
    state = client.get(f"{UPLOADS}/{session_id}").json()
    assert state["status"] == "completed" and state["result_sha256"] == digest

    # Recorded like a plain upload: the entry, its blob, the audit event; and it downloads byte for byte.
    path = f"{run.experiment.number}/{run.run_id}/artifacts/model/data.bin"
    entry = ArtifactEntry.objects.get(tenant=tenant, path=path)
    assert (entry.sha256, entry.size) == (digest, len(data))
    assert f"tenants/{tenant.pk}/blobs/sha256/{digest[:2]}/{digest}" in backend_with_worker.blob_keys()
    assert AuditEvent.objects.filter(tenant=tenant, action="artifact.uploaded").exists()
    assert AuditEvent.objects.filter(tenant=tenant, action="artifact.upload_completed").exists()
    assert hashlib.sha256(download(client, path)).hexdigest() == digest
    # The staged parts are gone.
    assert staged_of(backend_with_worker, session_id) == set()
    assert UploadSession.objects.get(pk=session_id).cleaned_at is not None


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(300)
def test_parts_sent_in_reverse_order_and_re_sent_assemble_into_the_file(
    backend_with_worker, api, owner, tenant
):
    client = api(owner, tenant)
    run = new_run(owner, tenant)
    data = payload(3 * PART + 123)
    session_id = open_session(client, run, size=len(data), path="weights.bin").json()["id"]
    # A wrong part 2 first, then the right one: re-sending a part replaces it.
    assert put_part(client, session_id, 2, payload(PART)).status_code == 200
    for number in (4, 3, 2, 1):
        chunk = data[(number - 1) * PART : number * PART]
        answer = put_part(client, session_id, number, chunk)
        assert answer.status_code == 200 and answer.json()["sha256"] == hashlib.sha256(chunk).hexdigest()
    if backend_with_worker.name == "file":  # the replaced part's file went once its replacement was recorded
        assert len(staged_of(backend_with_worker, session_id)) == 4
    # The wrong size for a part is refused before a byte is read.
    assert put_part(client, session_id, 4, b"x" * 10).status_code == 400
    assert client.post(f"{UPLOADS}/{session_id}/complete").status_code == 202
    # Completing again answers the same session (no second enqueue needed).
    assert client.post(f"{UPLOADS}/{session_id}/complete").status_code == 202
    session = wait_finished(session_id)
    assert session.status == UploadStatus.COMPLETED, (session.error_code, session.error_message)
    assert session.result_sha256 == hashlib.sha256(data).hexdigest()
    path = f"{run.experiment.number}/{run.run_id}/artifacts/weights.bin"
    assert download(client, path) == data
    # A completed session takes no more parts.
    assert put_part(client, session_id, 1, data[:PART]).status_code == 409


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(300)
def test_a_wrong_sha256_fails_the_upload_and_keeps_nothing(backend_with_worker, api, owner, tenant):
    client = api(owner, tenant)
    run = new_run(owner, tenant)
    data = payload(PART + 10)
    session_id = open_session(client, run, size=len(data), sha256="0" * 64).json()["id"]
    put_part(client, session_id, 1, data[:PART])
    put_part(client, session_id, 2, data[PART:])
    assert client.post(f"{UPLOADS}/{session_id}/complete").status_code == 202
    session = wait_finished(session_id)
    assert session.status == UploadStatus.FAILED
    state = client.get(f"{UPLOADS}/{session_id}").json()
    assert state["status"] == "failed" and state["error_code"] == "CHECKSUM_MISMATCH"
    assert hashlib.sha256(data).hexdigest() in state["error_message"]
    assert not Blob.objects.filter(tenant=tenant).exists()
    assert not ArtifactEntry.objects.filter(tenant=tenant).exists()
    assert {k for k in backend_with_worker.blob_keys() if k.startswith(f"tenants/{tenant.pk}/")} == set()
    assert staged_of(backend_with_worker, session_id) == set()
    assert AuditEvent.objects.filter(tenant=tenant, action="artifact.upload_failed").exists()


@pytest.mark.django_db(transaction=True)
def test_a_declared_size_over_the_storage_quota_is_refused_and_keeps_nothing(
    artifact_backend, api, owner, tenant
):
    tenant_services.tenant_update(tenant=tenant, actor=None, quota_storage_bytes=10 * MIB)
    client = api(owner, tenant)
    run = new_run(owner, tenant)
    before = artifact_backend.staged()
    refused = open_session(client, run, size=11 * MIB)
    assert refused.status_code == 403 and refused.json()["error_code"] == "QUOTA_EXCEEDED"
    assert not UploadSession.objects.exists()
    assert artifact_backend.staged() == before
    # Within the quota it opens.
    assert open_session(client, run, size=10 * MIB).status_code == 201


@pytest.mark.django_db(transaction=True)
def test_another_tenant_and_a_read_only_user_are_refused_on_every_endpoint(
    artifact_backend, api, owner, viewer, outsider, tenant, other_tenant
):
    client = api(owner, tenant)
    run = new_run(owner, tenant)
    session_id = open_session(client, run, size=PART + 1).json()["id"]
    put_part(client, session_id, 1, b"a" * PART)

    stranger = api(outsider, other_tenant)
    theirs = f"/t/globex/api/v1/uploads/{session_id}"
    for answer in (
        stranger.get(f"{UPLOADS}/{session_id}"),
        stranger.get(theirs),
        stranger.delete(theirs),
        stranger.post(f"{theirs}/complete"),
        stranger.put(f"{theirs}/parts/2", data=b"b", content_type="application/octet-stream"),
        stranger.post(
            "/t/globex/api/v1/uploads", {"run_id": run.run_id, "path": "x", "size": 1}, format="json"
        ),
    ):
        assert answer.status_code == 404, answer.content

    reader = api(viewer, tenant)
    # A viewer may look at the session (read on the experiment), and change nothing.
    assert reader.get(f"{UPLOADS}/{session_id}").status_code == 200
    for answer in (
        open_session(reader, run, size=PART),
        reader.put(f"{UPLOADS}/{session_id}/parts/2", data=b"b", content_type="application/octet-stream"),
        reader.post(f"{UPLOADS}/{session_id}/complete"),
        reader.delete(f"{UPLOADS}/{session_id}"),
    ):
        assert answer.status_code == 403, answer.content
        assert answer.json()["error_code"] == "PERMISSION_DENIED"
    # A read-scoped token of the owner is refused writes too.
    read_only = api(owner, tenant, ["read"])
    assert read_only.get(f"{UPLOADS}/{session_id}").status_code == 200
    assert read_only.post(f"{UPLOADS}/{session_id}/complete").status_code == 403
    assert read_only.delete(f"{UPLOADS}/{session_id}").status_code == 403
    session = UploadSession.objects.get(pk=session_id)
    assert session.status == UploadStatus.OPEN and session.parts.count() == 1
    assert UploadSession.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_aborting_removes_the_parts_and_refuses_more(artifact_backend, api, owner, tenant):
    client = api(owner, tenant)
    run = new_run(owner, tenant)
    session_id = open_session(client, run, size=2 * PART).json()["id"]
    put_part(client, session_id, 2, b"z" * PART)
    assert staged_of(artifact_backend, session_id)
    aborted = client.delete(f"{UPLOADS}/{session_id}")
    assert aborted.status_code == 200 and aborted.json()["status"] == "aborted"
    assert staged_of(artifact_backend, session_id) == set()
    assert put_part(client, session_id, 1, b"z" * PART).status_code == 409
    assert client.post(f"{UPLOADS}/{session_id}/complete").status_code == 409
    assert client.delete(f"{UPLOADS}/{session_id}").status_code == 200  # twice is harmless
    assert AuditEvent.objects.filter(tenant=tenant, action="artifact.upload_aborted").count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_expired_session_is_cleaned_by_the_periodic_task(artifact_backend, api, owner, tenant):
    client = api(owner, tenant)
    run = new_run(owner, tenant)
    stale_id = open_session(client, run, size=2 * PART, path="stale.bin").json()["id"]
    fresh_id = open_session(client, run, size=2 * PART, path="fresh.bin").json()["id"]
    for session_id in (stale_id, fresh_id):
        put_part(client, session_id, 1, b"s" * PART)
    UploadSession.objects.filter(pk=stale_id).update(expires_at=timezone.now() - timedelta(minutes=1))
    # A part sent after expiry is refused even before the sweep runs.
    assert put_part(client, stale_id, 2, b"s" * PART).status_code == 409

    assert expire_upload_sessions() == 1
    stale = UploadSession.objects.get(pk=stale_id)
    assert stale.status == UploadStatus.EXPIRED and stale.cleaned_at is not None
    assert staged_of(artifact_backend, stale_id) == set()
    assert AuditEvent.objects.filter(tenant=tenant, action="artifact.upload_expired").count() == 1
    # The live session keeps its parts; a second sweep finds nothing to do.
    assert UploadSession.objects.get(pk=fresh_id).status == UploadStatus.OPEN
    assert staged_of(artifact_backend, fresh_id)
    assert expire_upload_sessions() == 0


@pytest.mark.django_db
def test_the_upload_endpoints_are_in_the_openapi_schema(client):
    schema = client.get("/api/schema/?format=json").json()
    paths = schema["paths"]
    assert "/t/{tenant}/api/v1/uploads" in paths
    assert "put" in paths["/t/{tenant}/api/v1/uploads/{session_id}/parts/{number}"]
    assert "post" in paths["/t/{tenant}/api/v1/uploads/{session_id}/complete"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(300)
def test_a_session_whose_completion_was_lost_is_re_sent_by_the_periodic_task(worker, api, owner, tenant):
    from registry.artifacts.uploads import assembly
    from registry.artifacts.uploads.tasks import requeue_completing_uploads

    client = api(owner, tenant)
    run = new_run(owner, tenant)
    data = payload(PART + 5)
    session_id = open_session(client, run, size=len(data)).json()["id"]
    put_part(client, session_id, 1, data[:PART])
    put_part(client, session_id, 2, data[PART:])
    # As after `complete` with the broker down: `completing`, nothing queued.
    UploadSession.objects.filter(pk=session_id).update(
        status=UploadStatus.COMPLETING, enqueued_at=None, updated_at=timezone.now() - timedelta(minutes=5)
    )
    assert requeue_completing_uploads(older_than_seconds=60) == 1
    session = wait_finished(session_id)
    assert session.status == UploadStatus.COMPLETED
    assert session.result_sha256 == hashlib.sha256(data).hexdigest()
    # Nothing left to re-send, and a duplicate delivery of the task changes nothing.
    assert requeue_completing_uploads(older_than_seconds=0) == 0
    assert assembly.complete(session_id) == "skipped"
    assert AuditEvent.objects.filter(tenant=tenant, action="artifact.upload_completed").count() == 1
