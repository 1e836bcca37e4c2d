"""Redis stopped: creates answer at once (the version stays PENDING_REGISTRATION), unrelated reads keep their
latency, `/readyz` says 503 quickly; once Redis is back the periodic re-enqueue sends the lost registration, once."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from django.test import Client

from config.celery_app import app
from registry.models import ModelVersion, VersionStatus
from registry.tasks import requeue_pending_registrations
from tests.helpers import MLFLOW_API, TEST_QUEUE, client_for, issue, make_run_in_new_experiment

pytestmark = pytest.mark.django_db(transaction=True)

BASE = "/t/acme/api/v1"
CREATE_BUDGET = 2.0  # seconds a create may take with Redis down
READ_BUDGET = 1.0


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def wait_for(predicate, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout} s")


@pytest.fixture
def secret(owner, tenant):
    return issue(owner, tenant)


def test_a_version_create_answers_within_two_seconds_while_redis_is_down_and_is_ready_once_it_returns(
    outage_redis, secret, tenant, private_worker
):
    client = client_for(secret)
    assert client.post(f"{BASE}/models/", {"name": "churn"}, format="json").status_code == 201
    run = make_run_in_new_experiment(tenant)

    outage_redis.stop()
    res, took = timed(
        lambda: client.post(
            f"{BASE}/models/churn/versions/", {"source": f"runs:/{run.run_id}/model"}, format="json"
        )
    )
    assert res.status_code == 201, res.content
    assert res.json()["status"] == VersionStatus.PENDING_REGISTRATION
    assert took < CREATE_BUDGET, f"native create took {took:.2f} s with Redis down"
    # The MLflow client's create waits for READY when the worker is quick; with the broker down it must not.
    res, took = timed(
        lambda: client.post(
            f"{MLFLOW_API}/model-versions/create",
            {"name": "churn", "source": f"runs:/{run.run_id}/model"},
            format="json",
        )
    )
    assert res.status_code == 200, res.content
    assert res.json()["model_version"]["status"] == VersionStatus.PENDING_REGISTRATION
    assert took < CREATE_BUDGET, f"MLflow create took {took:.2f} s with Redis down"

    # Unrelated requests keep their latency, the MLflow read path (usage counters, cache) included.
    res, took = timed(lambda: client.get(f"{BASE}/models/churn/versions/1"))
    assert res.status_code == 200 and took < READ_BUDGET, took
    res, took = timed(
        lambda: client.get(f"{MLFLOW_API}/model-versions/get", {"name": "churn", "version": "1"})
    )
    assert res.status_code == 200 and took < READ_BUDGET, took
    res, took = timed(lambda: Client().get("/readyz"))
    assert res.status_code == 503 and res.json()["checks"]["redis"]["ok"] is False
    assert took < CREATE_BUDGET, took

    # Redis returns, empty (the lost publishes are not in it); a worker consumes from it.
    outage_redis.start()
    private_worker(TEST_QUEUE, REDIS_URL=outage_redis.url, CELERY_BROKER_URL=outage_redis.url)
    assert requeue_pending_registrations(older_than_seconds=0) == 2
    wait_for(lambda: not ModelVersion.objects.filter(status=VersionStatus.PENDING_REGISTRATION).exists())
    assert set(ModelVersion.objects.values_list("status", flat=True)) == {VersionStatus.READY}


def test_parallel_creates_with_redis_down_do_not_hold_up_an_unrelated_read(outage_redis, secret, tenant):
    client = client_for(secret)
    assert client.post(f"{BASE}/models/", {"name": "churn"}, format="json").status_code == 201
    runs = [make_run_in_new_experiment(tenant) for _ in range(6)]
    outage_redis.stop()

    def create(run):
        try:
            return timed(
                lambda: client_for(secret).post(
                    f"{BASE}/models/churn/versions/", {"source": f"runs:/{run.run_id}/model"}, format="json"
                )
            )
        finally:
            connections.close_all()

    def read():
        try:
            return timed(lambda: client_for(secret).get(f"{BASE}/models/churn"))
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=8) as pool:
        creates = [pool.submit(create, run) for run in runs]
        time.sleep(0.05)
        reading = pool.submit(read)
        (res, read_took) = reading.result(timeout=60)
        results = [f.result(timeout=60) for f in creates]
    assert res.status_code == 200 and read_took < CREATE_BUDGET, read_took
    assert all(r.status_code == 201 for r, _ in results), [r.content for r, _ in results]
    assert max(took for _, took in results) < CREATE_BUDGET, [round(t, 2) for _, t in results]
    assert ModelVersion.objects.filter(status=VersionStatus.PENDING_REGISTRATION).count() == len(runs)


def test_the_requeue_claims_each_pending_version_so_a_down_fleet_does_not_grow_the_queue(
    outage_redis, secret, tenant
):
    client = client_for(secret)
    assert client.post(f"{BASE}/models/", {"name": "churn"}, format="json").status_code == 201
    run = make_run_in_new_experiment(tenant)
    outage_redis.stop()
    res = client.post(
        f"{BASE}/models/churn/versions/", {"source": f"runs:/{run.run_id}/model"}, format="json"
    )
    assert res.status_code == 201
    # Still down: nothing is sent and the claim is released, so the next run tries again.
    assert requeue_pending_registrations(older_than_seconds=0) == 0
    assert ModelVersion.objects.get().enqueued_at is None
    outage_redis.start()
    # No worker: every beat tick would add one copy; the claim sends it once per resend interval.
    assert requeue_pending_registrations(older_than_seconds=0) == 1
    assert ModelVersion.objects.get().enqueued_at is not None
    assert requeue_pending_registrations(older_than_seconds=0) == 0
    assert requeue_pending_registrations(older_than_seconds=0) == 0
    with app.connection_for_write() as conn:
        queued = conn.default_channel.client.llen(TEST_QUEUE)
    assert queued == 1
    # Once the resend interval has passed it is sent again (the message may have been lost with the broker).
    assert requeue_pending_registrations(older_than_seconds=0, resend_after_seconds=0) == 1
