"""A worker killed mid-registration (the whole worker, SIGKILL, no chance to requeue): Redis hands the unacknowledged
task out again after the visibility timeout and the next worker finishes it, with nothing re-sent and no beat."""

from __future__ import annotations

import time
import uuid

import pytest
from django.db import connection, transaction

from config.celery_app import app as celery_app
from registry.models import AuditChainHead, AuditEvent, ModelVersion, RegisteredModel, VersionStatus
from registry.services.models import registered_model_create
from registry.tasks import register_model_version
from tests.helpers import make_logged_model, principal, stop_worker

pytestmark = pytest.mark.django_db(transaction=True)

VISIBILITY = 3  # seconds, the test workers' visibility timeout
RESTORE_INTERVAL = 1  # seconds between their sweeps for unacknowledged messages
RECOVERY = 30  # seconds: visibility + sweep + a worker's start, with a wide margin for a busy machine


def wait_for(predicate, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout} s")


def waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
        return cursor.fetchone()[0] > 0


@pytest.fixture
def model(owner, tenant) -> RegisteredModel:
    return registered_model_create(principal=principal(owner, tenant), name="churn")


def pending_version(model: RegisteredModel, tenant) -> ModelVersion:
    """A PENDING version whose task has not been sent (rows only): the test sends it where it wants."""
    logged = make_logged_model(tenant)
    ts = int(time.time() * 1000)
    model.last_version += 1
    model.save(update_fields=["last_version"])
    return ModelVersion.objects.create(
        model=model,
        version=model.last_version,
        source=f"models:/{logged.model_id}",
        source_path=f"0/models/{logged.model_id}/artifacts",
        creation_timestamp=ts,
        last_updated_timestamp=ts,
    )


def test_the_visibility_timeout_is_above_every_time_limit_and_a_few_minutes_at_most():
    conf = celery_app.conf
    visibility = conf.broker_transport_options["visibility_timeout"]
    assert conf.task_time_limit < visibility <= 600
    assert register_model_version.time_limit < visibility
    assert (
        conf.broker_transport_options["unacked_restore_interval"]
        * conf.broker_transport_options.get("unacked_restore_throttle", 10)
        <= 60
    )


def test_a_worker_killed_mid_registration_is_redelivered_by_redis_and_ends_ready_without_beat(
    model, tenant, private_worker
):
    queue = f"rel-crash-{uuid.uuid4().hex[:8]}"
    env = {
        "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY),
        "CELERY_UNACKED_RESTORE_INTERVAL": str(RESTORE_INTERVAL),
    }
    first = private_worker(queue, **env)
    version = pending_version(model, tenant)
    with transaction.atomic():
        # Hold the audit chain head: the task snapshots the files, then blocks on its last step, uncommitted.
        AuditChainHead.objects.select_for_update().get(tenant=tenant)
        register_model_version.apply_async(args=[version.pk], queue=queue)
        wait_for(waiting_on_a_lock)
        stop_worker(first, kill=True)  # SIGKILL the main process and the pool: nobody requeues the task
    version.refresh_from_db()
    assert version.status == VersionStatus.PENDING_REGISTRATION

    started = time.monotonic()
    private_worker(queue, **env)  # the next worker; nothing is sent again
    wait_for(lambda: ModelVersion.objects.get(pk=version.pk).status == VersionStatus.READY, timeout=RECOVERY)
    assert time.monotonic() - started < RECOVERY
    assert (
        AuditEvent.objects.filter(
            action="model_version.ready", model_id=model.pk, version=version.version
        ).count()
        == 1
    )
