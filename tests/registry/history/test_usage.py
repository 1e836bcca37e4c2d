"""Usage counters: resolves and downloads per principal and day, counted in Redis off the hot path, flushed into
VersionUsage by `modelgate.flush_usage_counters`, shown in provenance; a Redis outage never fails a resolve."""

from __future__ import annotations

import datetime as dt
import socket
import time

import pytest

from registry import services, usage
from registry.models import UsageFlushBatch, VersionUsage
from registry.tasks import flush_usage_counters
from tests.helpers import client_for, issue

from .conftest import BASE, make_run, ready_version

pytestmark = pytest.mark.django_db

PROVENANCE = f"{BASE}/models/churn/versions/1/provenance"
RESOLVE = f"{BASE}/models/churn/resolve"


@pytest.fixture
def champion(p_owner, tenant, redis_usage):
    model = services.registered_model_create(principal=p_owner, name="churn")
    version = ready_version(p_owner, model, make_run(tenant))
    services.alias_set(principal=p_owner, model=model, alias="champion", version=1)
    return version


def today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def usage_of(client) -> dict:
    res = client.get(PROVENANCE)
    assert res.status_code == 200, res.content
    return res.json()["usage"]


@pytest.mark.django_db(transaction=True)
def test_resolves_are_counted_per_principal_and_day_and_survive_the_flush(
    worker, champion, owner_api, teammate, tenant
):
    tom = client_for(issue(teammate, tenant))
    assert owner_api.get(RESOLVE, {"alias": "champion"}).status_code == 200
    assert owner_api.get(RESOLVE, {"version": "1"}).status_code == 200
    assert tom.get(RESOLVE, {"stage": "None"}).status_code == 200
    expected_days = [
        {"day": today(), "principal": "olivia", "resolves": 2, "downloads": 0},
        {"day": today(), "principal": "tom", "resolves": 1, "downloads": 0},
    ]
    before = usage_of(owner_api)  # not flushed yet: read from Redis
    assert before["days"] == expected_days
    assert before["pending_included"] is True
    assert not VersionUsage.objects.exists()

    # The beat task, run by a real worker.
    assert flush_usage_counters.apply_async(ignore_result=False).get(timeout=60) == 1
    rows = VersionUsage.objects.filter(tenant=tenant, model_id=champion.model_id, version=1)
    assert sorted(rows.values_list("principal", "resolves", "downloads")) == [("olivia", 2, 0), ("tom", 1, 0)]
    assert list(usage.client().scan_iter(match=f"{usage._prefix()}*")) == []
    after = usage_of(owner_api)  # flushed rows, nothing counted twice
    assert after["days"] == expected_days
    assert (after["resolves"], after["downloads"], after["principals"]) == (3, 0, ["olivia", "tom"])

    # More use after the flush is added to the same day's rows.
    assert tom.get(RESOLVE, {"alias": "champion"}).status_code == 200
    assert usage_of(owner_api)["resolves"] == 4
    assert flush_usage_counters.apply_async(ignore_result=False).get(timeout=60) == 1
    assert rows.get(principal="tom").resolves == 2
    assert (
        flush_usage_counters.apply_async(ignore_result=False).get(timeout=60) == 0
    )  # nothing left: a second run changes nothing
    assert rows.get(principal="tom").resolves == 2


def test_the_mlflow_registry_reads_that_serve_a_version_are_counted(champion, owner, tenant):
    mlflow = client_for(issue(owner, tenant))
    base = "/t/acme/api/2.0/mlflow"
    calls = [
        ("registered-models/alias", {"name": "churn", "alias": "champion"}),
        ("model-versions/get", {"name": "churn", "version": "1"}),
        ("model-versions/get-download-uri", {"name": "churn", "version": "1"}),
        ("registered-models/get-latest-versions", {"name": "churn"}),
    ]
    for path, params in calls:
        assert mlflow.get(f"{base}/{path}", params).status_code == 200, path
    usage.flush()
    assert VersionUsage.objects.get(principal="olivia").resolves == len(calls)


def test_downloads_are_counted_apart_from_resolves(champion, owner, tenant, owner_api):
    from tests.helpers import principal

    usage.record_use(principal(owner, tenant), champion, "download")
    usage.record_use(principal(owner, tenant), champion, "download")
    assert owner_api.get(RESOLVE, {"alias": "champion"}).status_code == 200
    assert usage_of(owner_api)["days"] == [
        {"day": today(), "principal": "olivia", "resolves": 1, "downloads": 2}
    ]
    with pytest.raises(ValueError):
        usage.record_use(principal(owner, tenant), champion, "peek")


def test_a_batch_left_by_a_dead_flush_is_not_added_twice(champion, owner_api):
    assert owner_api.get(RESOLVE, {"alias": "champion"}).status_code == 200
    client = usage.client()
    (live,) = [k.decode() for k in client.scan_iter(match=f"{usage._prefix()}:*")]
    batch = f"{usage._prefix()}-batch:dead:{live.split(':', 2)[2]}"
    client.rename(live, batch)
    # The dead flush had committed this batch but died before deleting it from Redis.
    assert usage._apply_batch(batch, client.hgetall(batch)) is True
    assert usage.flush() == 0
    assert VersionUsage.objects.get(principal="olivia").resolves == 1
    assert UsageFlushBatch.objects.filter(key=batch).exists()
    assert client.exists(batch) == 0


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_redis_outage_never_fails_or_slows_a_resolve(champion, owner_api):
    usage.connect(f"redis://127.0.0.1:{closed_port()}/0")
    started = time.monotonic()
    for _ in range(3):
        res = owner_api.get(RESOLVE, {"alias": "champion"})
        assert res.status_code == 200
        assert res.json()["version"] == "1"
    assert time.monotonic() - started < 3
    # Provenance still answers, with the flushed rows only, and says so.
    doc_usage = usage_of(owner_api)
    assert doc_usage["pending_included"] is False
    assert doc_usage["days"] == []


def test_the_flush_task_is_on_the_beat_schedule():
    from config.celery_app import app

    entries = {e["task"]: e for e in app.conf.beat_schedule.values()}
    assert entries["modelgate.flush_usage_counters"]["schedule"] == usage.FLUSH_INTERVAL_SECONDS
    assert flush_usage_counters.name == "modelgate.flush_usage_counters"
