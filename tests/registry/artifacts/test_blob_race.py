"""A failed upload never deletes bytes that a concurrent upload of the same content records: the failed one discards
them only under a placeholder Blob row of its own, and a recorder that inserts the Blob row checks the bytes are
still there (registry/artifacts/services.py). Two real threads, each with its own database connection."""

from __future__ import annotations

import io
import threading
import time
from types import SimpleNamespace

import pytest
from django.db import connection

from accounts import services as account_services
from config.errors import InvalidParameter
from registry.artifacts import reading, services, storage
from registry.tracking import services as tracking_services
from registry.tracking.models import ArtifactEntry, Blob
from tenants.access import principal_for

CONTENT = b"the same bytes, uploaded twice at once"

pytestmark = pytest.mark.django_db(transaction=True)


def principal(user, tenant):
    token, _secret = account_services.token_issue(user=user, tenant=tenant)
    return principal_for(SimpleNamespace(tenant_slug=tenant.slug, method="PUT"), user, token)


@pytest.fixture
def run_path(owner, tenant):
    me = principal(owner, tenant)
    experiment = tracking_services.experiment_create(principal=me, name="race")
    run = tracking_services.run_create(principal=me, experiment=experiment, run_name="r")
    return f"{experiment.number}/{run.run_id}/artifacts"


def in_thread(fn) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def target():
        try:
            outcome["result"] = fn()
        except Exception as exc:
            outcome["error"] = exc
        finally:
            connection.close()  # each thread opened its own connection

    thread = threading.Thread(target=target)
    thread.start()
    return thread, outcome


def no_blob_row_without_bytes(tenant) -> None:
    for blob in Blob.objects.for_tenant(tenant):
        assert storage.blob_object_exists(tenant.pk, blob.sha256), f"Blob {blob.sha256} has no bytes"


def stored_bytes(tenant_id: int, sha256: str) -> bytes:
    stream = reading.open_range(tenant_id, sha256)
    try:
        return b"".join(stream)
    finally:
        stream.close()


def test_a_discard_that_ran_first_makes_the_other_upload_fail_cleanly_instead_of_recording_missing_bytes(
    owner, tenant, run_path, monkeypatch
):
    """A stores the bytes, B finds them stored, A's recording fails and A discards them, then B records: B must
    not record a Blob whose bytes are gone (the old `blob_recorded` check let it)."""
    me = principal(owner, tenant)
    real_record = services.artifact_record
    a_stored, b_stored, a_done = threading.Event(), threading.Event(), threading.Event()

    def record(*, principal, path, sha256, size):
        if path.endswith("a.bin"):
            a_stored.set()
            assert b_stored.wait(30)
            raise InvalidParameter("A's recording fails")
        b_stored.set()
        assert a_done.wait(30)
        return real_record(principal=principal, path=path, sha256=sha256, size=size)

    monkeypatch.setattr(services, "artifact_record", record)

    def upload_a():
        try:
            return services.artifact_upload(
                principal=me, path=f"{run_path}/a.bin", read=io.BytesIO(CONTENT).read
            )
        finally:
            a_done.set()

    thread_a, outcome_a = in_thread(upload_a)
    assert a_stored.wait(30)  # A stored first: B will find the bytes there
    thread_b, outcome_b = in_thread(
        lambda: services.artifact_upload(
            principal=me, path=f"{run_path}/b.bin", read=io.BytesIO(CONTENT).read
        )
    )
    thread_a.join(30)
    thread_b.join(30)

    assert isinstance(outcome_a.get("error"), InvalidParameter)
    assert isinstance(outcome_b.get("error"), services.BlobVanished), outcome_b
    assert outcome_b["error"].status == 503  # TEMPORARILY_UNAVAILABLE: the client retries the upload
    assert not ArtifactEntry.objects.for_tenant(tenant).exists()
    no_blob_row_without_bytes(tenant)

    # The retry stores the bytes again and records them.
    monkeypatch.setattr(services, "artifact_record", real_record)
    entry = services.artifact_upload(principal=me, path=f"{run_path}/b.bin", read=io.BytesIO(CONTENT).read)
    assert stored_bytes(tenant.pk, entry.sha256) == CONTENT


def test_a_discard_waits_for_a_recorder_holding_the_blob_row_and_keeps_its_bytes(
    owner, tenant, run_path, monkeypatch
):
    """B has inserted the Blob row but not committed when A's recording fails: A's discard waits for B's commit,
    sees the row and keeps the bytes."""
    me = principal(owner, tenant)
    real_record = services.artifact_record
    real_emit = services.events.emit
    a_stored, b_inserted = threading.Event(), threading.Event()

    def record(*, principal, path, sha256, size):
        if path.endswith("a.bin"):
            a_stored.set()
            assert b_inserted.wait(30)
            raise InvalidParameter("A's recording fails")
        return real_record(principal=principal, path=path, sha256=sha256, size=size)

    def emit(**kwargs):
        if kwargs.get("action") == "artifact.uploaded":
            b_inserted.set()  # B holds its uncommitted Blob row...
            time.sleep(1.0)  # ...long enough for A's discard to run into it
        return real_emit(**kwargs)

    monkeypatch.setattr(services, "artifact_record", record)
    monkeypatch.setattr(services.events, "emit", emit)

    thread_a, outcome_a = in_thread(
        lambda: services.artifact_upload(
            principal=me, path=f"{run_path}/a.bin", read=io.BytesIO(CONTENT).read
        )
    )
    assert a_stored.wait(30)
    thread_b, outcome_b = in_thread(
        lambda: services.artifact_upload(
            principal=me, path=f"{run_path}/b.bin", read=io.BytesIO(CONTENT).read
        )
    )
    thread_a.join(30)
    thread_b.join(30)

    assert isinstance(outcome_a.get("error"), InvalidParameter)
    entry = outcome_b.get("result")
    assert entry is not None, outcome_b
    assert storage.blob_object_exists(tenant.pk, entry.sha256)
    assert stored_bytes(tenant.pk, entry.sha256) == CONTENT
    no_blob_row_without_bytes(tenant)


def test_a_failed_upload_alone_leaves_nothing_behind(owner, tenant, run_path, monkeypatch):
    me = principal(owner, tenant)

    def record(**kwargs):
        raise InvalidParameter("recording fails")

    monkeypatch.setattr(services, "artifact_record", record)
    with pytest.raises(InvalidParameter):
        services.artifact_upload(principal=me, path=f"{run_path}/x.bin", read=io.BytesIO(CONTENT).read)
    import hashlib

    assert not storage.blob_object_exists(tenant.pk, hashlib.sha256(CONTENT).hexdigest())
    assert not Blob.objects.for_tenant(tenant).exists()
