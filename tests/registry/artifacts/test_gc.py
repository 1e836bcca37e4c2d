"""Garbage collection of blobs (registry/artifacts/gc.py) on both backends: bytes go only after the deletion
commits and only when nothing references them; the hourly sweep removes orphans older than the grace period and
nothing else, also while an identical upload holds the Blob row."""

from __future__ import annotations

import io
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from config.celery_app import app as celery_app
from registry import services as registry_services
from registry import tasks
from registry.artifacts import gc, services, storage
from registry.models import AuditEvent, ModelVersionFile
from registry.services.registration import registration_finalize
from registry.tracking import services as tracking_services
from registry.tracking.models import ArtifactEntry, Blob
from tests.helpers import principal

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sent(monkeypatch) -> list[tuple[str, list]]:
    """Tasks published on commit, recorded instead of sent (the test runs them in-process, in order)."""
    calls: list[tuple[str, list]] = []
    monkeypatch.setattr(celery_app, "send_task", lambda name, args=None, **kw: calls.append((name, args)))
    return calls


@pytest.fixture
def run_path(owner, tenant) -> str:
    me = principal(owner, tenant)
    experiment = tracking_services.experiment_create(principal=me, name="gc")
    run = tracking_services.run_create(principal=me, experiment=experiment, run_name="r")
    return f"{experiment.number}/{run.run_id}/artifacts"


def upload(user, tenant, path: str, data: bytes) -> ArtifactEntry:
    return services.artifact_upload(principal=principal(user, tenant), path=path, read=io.BytesIO(data).read)


def delete(user, tenant, path: str) -> None:
    services.artifact_delete(principal=principal(user, tenant), path=path)


def run_collects(sent) -> None:
    for name, args in sent:
        if name == gc.COLLECT_TASK:
            tasks.collect_blob(*args)
    sent.clear()


def has_object(tenant, sha256: str) -> bool:
    return storage.blob_object_exists(tenant.pk, sha256)


def test_deleting_the_last_reference_removes_the_bytes_only_after_commit(
    artifact_backend, owner, tenant, run_path, sent, monkeypatch
):
    entry = upload(owner, tenant, f"{run_path}/model.bin", b"only one reference")
    seen: dict = {}

    def at_commit(blob_ids):
        # Runs once the deletion committed: the entry is gone, the bytes and the Blob row still there.
        seen["entry_gone"] = not ArtifactEntry.objects.filter(pk=entry.pk).exists()
        seen["bytes_kept"] = has_object(tenant, entry.sha256)
        seen["row_kept"] = Blob.objects.filter(pk=entry.blob_id).exists()
        real(blob_ids)

    real = gc.schedule_collect
    monkeypatch.setattr(gc, "schedule_collect", at_commit)
    delete(owner, tenant, f"{run_path}/model.bin")
    assert seen == {"entry_gone": True, "bytes_kept": True, "row_kept": True}
    assert sent == [(gc.COLLECT_TASK, [entry.blob_id])]
    run_collects(sent)
    assert not Blob.objects.filter(pk=entry.blob_id).exists()
    assert not has_object(tenant, entry.sha256)
    assert {k for k in artifact_backend.blob_keys() if k.startswith(f"tenants/{tenant.pk}/")} == set()
    event = AuditEvent.objects.filter(tenant_id=tenant.pk, action="artifact.gc").get()
    assert event.after == {"blobs": 1, "objects": 0, "bytes": len(b"only one reference")}


def test_deleting_a_path_keeps_bytes_another_path_references(artifact_backend, owner, tenant, run_path, sent):
    kept = upload(owner, tenant, f"{run_path}/a.bin", b"shared")
    upload(owner, tenant, f"{run_path}/b.bin", b"shared")
    delete(owner, tenant, f"{run_path}/b.bin")
    run_collects(sent)
    assert Blob.objects.filter(pk=kept.blob_id).exists()
    assert has_object(tenant, kept.sha256)
    assert not AuditEvent.objects.filter(action="artifact.gc").exists()


def register(owner, tenant, model, source: str):
    version = registry_services.model_version_create(
        principal=principal(owner, tenant), model=model, source="mlflow-artifacts:/" + source
    )
    assert registration_finalize(version_id=version.pk) == "READY"
    return version


def test_deleting_a_version_whose_blob_another_version_shares_keeps_the_bytes_until_the_last_goes(
    artifact_backend, owner, tenant, run_path, sent
):
    entry = upload(owner, tenant, f"{run_path}/model/weights.bin", b"weights")
    model = registry_services.registered_model_create(principal=principal(owner, tenant), name="m")
    v1 = register(owner, tenant, model, f"{run_path}/model")
    v2 = register(owner, tenant, model, f"{run_path}/model")
    assert ModelVersionFile.objects.filter(blob_id=entry.blob_id).count() == 2
    delete(
        owner, tenant, f"{run_path}/model"
    )  # the run's artifacts: the versions' snapshots still reference it
    registry_services.model_version_delete(principal=principal(owner, tenant), version=v1)
    run_collects(sent)
    assert has_object(tenant, entry.sha256)
    assert Blob.objects.filter(pk=entry.blob_id).exists()
    registry_services.registered_model_delete(principal=principal(owner, tenant), model=model)
    assert not ModelVersionFile.objects.filter(version_id=v2.pk).exists()
    run_collects(sent)
    assert not has_object(tenant, entry.sha256)
    assert not Blob.objects.filter(pk=entry.blob_id).exists()


def age(blob_id: int, hours: float = 2) -> None:
    Blob.objects.filter(pk=blob_id).update(created_at=timezone.now() - timedelta(hours=hours))


def test_the_sweep_removes_old_orphans_and_nothing_else(
    artifact_backend, owner, tenant, other_tenant, run_path, sent, monkeypatch, settings
):
    settings.ARTIFACT_GC_GRACE_SECONDS = 3600
    referenced = upload(owner, tenant, f"{run_path}/kept.bin", b"referenced")
    orphan = upload(owner, tenant, f"{run_path}/gone.bin", b"orphan")
    young = upload(owner, tenant, f"{run_path}/young.bin", b"young orphan")
    # Bytes stored, row not recorded yet (an upload in flight): only an object, no Blob row.
    stray = storage.store_bytes(tenant=tenant, data=b"stored but not recorded")
    ArtifactEntry.objects.filter(path__in=[orphan.path, young.path]).delete()  # no on-commit collection
    for blob_id in (referenced.blob_id, orphan.blob_id):
        age(blob_id)

    # The old orphan goes; the young orphan row and the stray object are younger than the grace period.
    assert gc.collect_orphans() == {tenant.pk: {"blobs": 1, "objects": 0, "bytes": len(b"orphan")}}
    assert has_object(tenant, stray.sha256) and has_object(tenant, young.sha256)
    assert not has_object(tenant, orphan.sha256)

    # An hour and a bit later (the stray object and the young row age; the young row is re-dated to stay young).
    later = timezone.now() + timedelta(hours=1, minutes=5)
    monkeypatch.setattr(gc.timezone, "now", lambda: later)
    Blob.objects.filter(pk=young.blob_id).update(created_at=later)
    summary = gc.collect_orphans()
    assert summary == {tenant.pk: {"blobs": 0, "objects": 1, "bytes": 0}}
    assert set(Blob.objects.values_list("pk", flat=True)) == {referenced.blob_id, young.blob_id}
    assert has_object(tenant, referenced.sha256) and has_object(tenant, young.sha256)
    assert not has_object(tenant, orphan.sha256) and not has_object(tenant, stray.sha256)
    assert AuditEvent.objects.filter(tenant_id=tenant.pk, action="artifact.gc").count() == 2
    assert gc.collect_orphans() == {}  # idempotent


def test_the_sweep_keeps_an_old_blob_an_identical_upload_is_recording_meanwhile(
    artifact_backend, owner, tenant, run_path, sent
):
    """A recorder holds the Blob row lock and adds a reference; the sweep waits on the lock, re-checks, keeps it."""
    first = upload(owner, tenant, f"{run_path}/old.bin", b"same content")
    ArtifactEntry.objects.filter(pk=first.pk).delete()
    age(first.blob_id)
    locked, release = threading.Event(), threading.Event()
    outcome: dict = {}

    def recorder():
        try:
            with transaction.atomic():
                blob = Blob.objects.select_for_update().get(pk=first.blob_id)
                ArtifactEntry.objects.create(
                    tenant=tenant, path=f"{run_path}/new.bin", blob=blob, sha256=blob.sha256, size=blob.size
                )
                locked.set()
                assert release.wait(30)
        finally:
            connection.close()

    def sweeper():
        try:
            outcome["summary"] = gc.collect_orphans()
        except Exception as exc:
            outcome["error"] = exc
        finally:
            connection.close()

    holder = threading.Thread(target=recorder)
    holder.start()
    assert locked.wait(30)
    sweep = threading.Thread(target=sweeper)
    sweep.start()
    time.sleep(1)
    assert sweep.is_alive(), "the sweep must wait for the recorder's row lock"
    release.set()
    holder.join(30)
    sweep.join(30)
    assert outcome == {"summary": {}}
    assert Blob.objects.filter(pk=first.blob_id).exists()
    assert has_object(tenant, first.sha256)


def test_an_upload_of_content_being_collected_fails_cleanly_and_leaves_no_row_without_bytes(
    artifact_backend, owner, tenant, run_path, sent, monkeypatch
):
    """The collector holds the row lock while deleting; the recorder of identical bytes waits, then finds the row
    gone: a 503 to retry, never an entry pointing at missing bytes."""
    first = upload(owner, tenant, f"{run_path}/a.bin", b"collected")
    ArtifactEntry.objects.filter(pk=first.pk).delete()
    holding, go = threading.Event(), threading.Event()
    real_delete = storage.delete_blob_object

    def slow_delete(tenant_id, sha256):
        holding.set()
        assert go.wait(30)
        real_delete(tenant_id, sha256)

    monkeypatch.setattr(storage, "delete_blob_object", slow_delete)
    outcome: dict = {}

    def collector():
        try:
            outcome["freed"] = gc.collect_blob(first.blob_id)
        finally:
            connection.close()

    thread = threading.Thread(target=collector)
    thread.start()
    assert holding.wait(30)
    threading.Timer(1.0, go.set).start()
    with pytest.raises(services.BlobVanished):
        upload(owner, tenant, f"{run_path}/b.bin", b"collected")
    thread.join(30)
    assert outcome["freed"] == (tenant.pk, len(b"collected"))
    assert not ArtifactEntry.objects.filter(tenant=tenant).exists()
    for blob in Blob.objects.filter(tenant=tenant):
        assert has_object(tenant, blob.sha256)


def test_the_real_worker_collects_a_blob_after_its_last_reference_is_deleted(worker, owner, tenant, run_path):
    entry = upload(owner, tenant, f"{run_path}/w.bin", b"collected by the worker")
    delete(owner, tenant, f"{run_path}/w.bin")
    deadline = time.monotonic() + 60
    while Blob.objects.filter(pk=entry.blob_id).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not Blob.objects.filter(pk=entry.blob_id).exists()
    assert not has_object(tenant, entry.sha256)
    assert AuditEvent.objects.filter(tenant_id=tenant.pk, action="artifact.gc").count() == 1
