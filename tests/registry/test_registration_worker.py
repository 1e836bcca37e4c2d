"""Registration through a real Celery worker: quick READY, idempotent reruns, and recovery after a worker is killed
mid-task (its uncommitted snapshot rolled back by PostgreSQL, the task delivered again)."""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest
from django.db import connection, transaction

from config.celery_app import app
from registry import selectors, services
from registry.models import AuditChainHead, AuditEvent, ModelVersion, ModelVersionFile, VersionStatus
from registry.tasks import register_model_version
from tests.helpers import (
    MODEL_FILES,
    Worker,
    expected_manifest,
    make_logged_model,
    principal,
    start_worker,
    stop_worker,
)

pytestmark = pytest.mark.django_db(transaction=True)

ALL_SCOPES = ["read", "write", "promote", "admin"]


@pytest.fixture
def p_owner(owner, tenant):
    return principal(owner, tenant, ALL_SCOPES)


@pytest.fixture
def model(p_owner):
    return services.registered_model_create(principal=p_owner, name="reg")


def wait_for(predicate, timeout: float = 30, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out waiting")


def test_a_small_model_is_ready_well_under_a_second(worker, p_owner, model, tenant):
    logged = make_logged_model(tenant)
    version = services.model_version_create(
        principal=p_owner, model=model, source=f"models:/{logged.model_id}"
    )
    started = time.monotonic()
    version = selectors.wait_until_registered(version)
    elapsed = time.monotonic() - started
    assert version.status == VersionStatus.READY, version.status_message
    assert elapsed < 1.0, f"READY after {elapsed:.2f}s"
    assert selectors.manifest(version) == expected_manifest(MODEL_FILES)


def test_an_empty_source_is_ready_with_an_empty_manifest_as_in_mlflow(worker, p_owner, model, tenant):
    logged = make_logged_model(tenant, files={})
    version = services.model_version_create(
        principal=p_owner, model=model, source=f"models:/{logged.model_id}"
    )
    version = selectors.wait_until_registered(version, timeout=10)
    assert version.status == VersionStatus.READY, version.status_message
    assert selectors.manifest(version) == []
    assert version.manifest_sha256 == services.manifest_sha256([])


def test_the_task_run_twice_leaves_one_ready_version_with_the_same_manifest(worker, p_owner, model, tenant):
    logged = make_logged_model(tenant)
    version = services.model_version_create(
        principal=p_owner, model=model, source=f"models:/{logged.model_id}"
    )
    version = selectors.wait_until_registered(version, timeout=10)
    assert version.status == VersionStatus.READY
    digest = version.manifest_sha256
    assert (
        register_model_version.apply_async(args=[version.pk], ignore_result=False).get(timeout=30)
        == VersionStatus.READY
    )
    assert (
        register_model_version.apply_async(args=[version.pk], ignore_result=False).get(timeout=30)
        == VersionStatus.READY
    )
    version.refresh_from_db()
    assert version.manifest_sha256 == digest
    assert ModelVersionFile.objects.filter(version=version).count() == len(MODEL_FILES)
    assert AuditEvent.objects.filter(action="model_version.ready", model_id=model.pk).count() == 1


# --- crashes -----------------------------------------------------------------------------------------------------


def start_private_worker(tmp_path, queue: str) -> Worker:
    """A worker on a queue of its own (the session worker must not take the task we are about to crash)."""
    return start_worker(tmp_path, concurrency=1, name=f"crash{uuid.uuid4().hex[:6]}", queue=queue)


def pending_version(model, tenant) -> ModelVersion:
    """A PENDING version whose task has not been sent (rows only), so the test decides where it runs."""
    logged = make_logged_model(tenant)
    ts = int(time.time() * 1000)
    model.last_version += 1
    model.save(update_fields=["last_version"])
    return ModelVersion.objects.create(
        model=model,
        version=model.last_version,
        source=f"models:/{logged.model_id}",
        source_path=f"0/models/{logged.model_id}/artifacts",
        run_id=logged.source_run.run_id if logged.source_run else "",
        creation_timestamp=ts,
        last_updated_timestamp=ts,
    )


def waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
        return cursor.fetchone()[0]


def active_pid(worker: Worker) -> int | None:
    """The pid of the pool process running a task on this worker, if any."""
    tasks = (app.control.inspect([worker.name], timeout=1).active() or {}).get(worker.name) or []
    return tasks[0]["worker_pid"] if tasks else None


def assert_ready_once(version: ModelVersion) -> None:
    version.refresh_from_db()
    assert version.status == VersionStatus.READY, version.status_message
    assert selectors.manifest(version) == expected_manifest(MODEL_FILES)
    assert version.manifest_sha256 == services.manifest_sha256(
        (f["path"], f["size"], f["sha256"]) for f in expected_manifest(MODEL_FILES)
    )
    assert (
        AuditEvent.objects.filter(
            action="model_version.ready", model_id=version.model_id, version=version.version
        ).count()
        == 1
    )


def test_a_pool_process_killed_mid_task_is_redelivered_and_ends_ready_once(p_owner, model, tenant, tmp_path):
    queue = f"crash-{uuid.uuid4().hex[:8]}"
    worker = start_private_worker(tmp_path, queue)
    try:
        version = pending_version(model, tenant)
        with transaction.atomic():
            # Hold the audit chain head: the task snapshots the files, marks the version READY, then blocks here on
            # its last step, uncommitted. That is "mid-way".
            AuditChainHead.objects.select_for_update().get(tenant=tenant)
            register_model_version.apply_async(args=[version.pk], queue=queue)
            wait_for(waiting_on_a_lock)
            killed = wait_for(lambda: active_pid(worker))
            os.kill(killed, signal.SIGKILL)  # the pool process dies; the task goes back to the queue
            # The redelivered task runs in a fresh pool process and blocks on the same lock again.
            wait_for(lambda: active_pid(worker) not in (None, killed))
        wait_for(lambda: ModelVersion.objects.get(pk=version.pk).status == VersionStatus.READY)
        assert_ready_once(version)
    finally:
        stop_worker(worker, kill=True)


def test_a_worker_killed_mid_task_leaves_nothing_and_the_next_worker_finishes(
    p_owner, model, tenant, tmp_path
):
    queue = f"crash-{uuid.uuid4().hex[:8]}"
    first = start_private_worker(tmp_path, queue)
    second = None
    try:
        version = pending_version(model, tenant)
        with transaction.atomic():
            AuditChainHead.objects.select_for_update().get(tenant=tenant)
            register_model_version.apply_async(args=[version.pk], queue=queue)
            wait_for(waiting_on_a_lock)
            stop_worker(first, kill=True)  # SIGKILL the whole worker, main process and pool, mid-task
        # PostgreSQL rolls the dead worker's transaction back: no half snapshot is ever visible.
        time.sleep(0.5)
        version.refresh_from_db()
        assert version.status == VersionStatus.PENDING_REGISTRATION
        assert not ModelVersionFile.objects.filter(version=version).exists()
        # Redis hands the unacknowledged task out again after the visibility timeout (an hour in production);
        # the test sends it again instead of waiting, which is the same delivery to the next worker.
        second = start_private_worker(tmp_path, queue)
        assert (
            register_model_version.apply_async(args=[version.pk], queue=queue, ignore_result=False).get(
                timeout=60
            )
            == "READY"
        )
        assert_ready_once(version)
    finally:
        if second is not None:
            stop_worker(second)
