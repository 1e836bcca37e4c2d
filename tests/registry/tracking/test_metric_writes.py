"""Metric points written without the run row lock (one history insert, one latest-point upsert): MLflow's "latest"
rule, no duplicate points on a retry, the run-is-active check, and concurrent writers to one run."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from registry.tracking.models import LatestMetric, Metric, Run
from tests.helpers import client_for, issue
from tests.helpers import mlflow_create_experiment as make_experiment
from tests.helpers import mlflow_create_run as make_run
from tests.helpers import mlflow_get as get
from tests.helpers import mlflow_post as post


@pytest.fixture
def mlflow(owner, tenant):
    return client_for(issue(owner, tenant))


def point(key, value, timestamp, step=0):
    return {"key": key, "value": value, "timestamp": timestamp, "step": step}


def latest(client, rid: str) -> dict:
    run = get(client, "runs/get", {"run_id": rid})["run"]
    return {m["key"]: (m["value"], m["timestamp"], m["step"]) for m in run["data"].get("metrics", [])}


@pytest.mark.django_db
def test_the_latest_point_is_the_highest_step_then_timestamp_then_value(mlflow):
    rid = make_run(mlflow, make_experiment(mlflow))
    post(mlflow, "runs/log-batch", {"run_id": rid, "metrics": [point("a", 1.0, 100, step=5)]})
    # Lower step, newer timestamp, bigger value: not the latest.
    post(mlflow, "runs/log-batch", {"run_id": rid, "metrics": [point("a", 9.0, 999, step=4)]})
    assert latest(mlflow, rid)["a"] == (1.0, 100, 5)
    # Same step, later timestamp: latest.
    post(mlflow, "runs/log-batch", {"run_id": rid, "metrics": [point("a", 0.5, 200, step=5)]})
    assert latest(mlflow, rid)["a"] == (0.5, 200, 5)
    # Same step and timestamp: the bigger value wins, whichever came first.
    post(mlflow, "runs/log-batch", {"run_id": rid, "metrics": [point("a", 0.7, 200, step=5)]})
    post(mlflow, "runs/log-batch", {"run_id": rid, "metrics": [point("a", 0.6, 200, step=5)]})
    assert latest(mlflow, rid)["a"] == (0.7, 200, 5)
    # Within one batch the same rule picks the point (not the last one sent).
    post(
        mlflow,
        "runs/log-batch",
        {"run_id": rid, "metrics": [point("b", 3.0, 10, step=2), point("b", 1.0, 50, step=1)]},
    )
    assert latest(mlflow, rid)["b"] == (3.0, 10, 2)


@pytest.mark.django_db
def test_nan_counts_as_zero_when_the_latest_point_is_chosen(mlflow):
    rid = make_run(mlflow, make_experiment(mlflow))
    post(mlflow, "runs/log-batch", {"run_id": rid, "metrics": [point("x", 0.5, 10)]})
    post(mlflow, "runs/log-batch", {"run_id": rid, "metrics": [point("x", "NaN", 10)]})
    assert latest(mlflow, rid)["x"] == (0.5, 10, 0)  # NaN (as 0) < 0.5
    post(mlflow, "runs/log-batch", {"run_id": rid, "metrics": [point("y", "NaN", 10)]})
    post(mlflow, "runs/log-batch", {"run_id": rid, "metrics": [point("y", -1.0, 10)]})
    assert latest(mlflow, rid)["y"] == ("NaN", 10, 0)  # -1 < NaN (as 0)
    post(mlflow, "runs/log-batch", {"run_id": rid, "metrics": [point("y", "Infinity", 10)]})
    assert latest(mlflow, rid)["y"] == ("Infinity", 10, 0)


@pytest.mark.django_db
def test_a_retried_batch_adds_no_duplicate_points(mlflow):
    rid = make_run(mlflow, make_experiment(mlflow))
    body = {
        "run_id": rid,
        "metrics": [point("loss", 1.0 / (i + 1), 1000 + i, step=i) for i in range(50)]
        + [point("nan", "NaN", 5), point("nan", "NaN", 5), point("inf", "-Infinity", 5)],
    }
    post(mlflow, "runs/log-batch", body)
    post(mlflow, "runs/log-batch", body)
    post(mlflow, "runs/log-metric", {"run_id": rid, **point("loss", 1.0, 1000, step=0)})
    run = Run.objects.get(run_id=rid)
    assert Metric.objects.filter(run=run, key="loss").count() == 50
    assert Metric.objects.filter(run=run, key="nan").count() == 1
    assert Metric.objects.filter(run=run, key="inf").count() == 1
    # A new point of an existing key (same step and time, another value) is new.
    post(mlflow, "runs/log-metric", {"run_id": rid, **point("loss", 2.0, 1000, step=0)})
    assert Metric.objects.filter(run=run, key="loss").count() == 51
    history = get(mlflow, "metrics/get-history", {"run_id": rid, "metric_key": "nan"})["metrics"]
    assert [m["value"] for m in history] == ["NaN"]


@pytest.mark.django_db
def test_a_point_tagged_with_a_logged_model_is_not_logged_again_without_it(mlflow):
    rid = make_run(mlflow, make_experiment(mlflow))
    post(mlflow, "runs/log-batch", {"run_id": rid, "metrics": [point("auc", 0.9, 7)]})
    mid = post(mlflow, "logged-models", {"experiment_id": "1", "source_run_id": rid})["model"]["info"][
        "model_id"
    ]
    post(mlflow, "runs/log-batch", {"run_id": rid, "metrics": [{**point("auc", 0.9, 7), "model_id": mid}]})
    post(mlflow, "runs/log-batch", {"run_id": rid, "metrics": [point("auc", 0.9, 7)]})
    rows = list(Metric.objects.filter(run__run_id=rid, key="auc").values_list("model_id", flat=True))
    assert rows == [mid]
    # A second logged model gets a point of its own; re-logging either changes nothing.
    mid2 = post(mlflow, "logged-models", {"experiment_id": "1", "source_run_id": rid})["model"]["info"][
        "model_id"
    ]
    for model_id in (mid2, mid, mid2):
        post(
            mlflow,
            "runs/log-batch",
            {"run_id": rid, "metrics": [{**point("auc", 0.9, 7), "model_id": model_id}]},
        )
    rows = list(Metric.objects.filter(run__run_id=rid, key="auc").values_list("model_id", flat=True))
    assert sorted(rows) == sorted([mid, mid2])


@pytest.mark.django_db
def test_metrics_to_a_deleted_run_are_refused_and_write_nothing(mlflow):
    rid = make_run(mlflow, make_experiment(mlflow))
    post(mlflow, "runs/delete", {"run_id": rid})
    err = post(mlflow, "runs/log-batch", {"run_id": rid, "metrics": [point("a", 1.0, 1)]}, status=400)
    assert err["error_code"] == "INVALID_PARAMETER_VALUE"
    err = post(mlflow, "runs/log-metric", {"run_id": rid, **point("a", 1.0, 1)}, status=400)
    assert err["error_code"] == "INVALID_PARAMETER_VALUE"
    assert not Metric.objects.filter(run__run_id=rid).exists()
    assert not LatestMetric.objects.filter(run__run_id=rid).exists()


@pytest.mark.django_db
def test_another_tenant_and_a_viewer_cannot_log_metrics(mlflow, viewer, tenant, outsider, other_tenant):
    rid = make_run(mlflow, make_experiment(mlflow))
    body = {"run_id": rid, "metrics": [point("a", 1.0, 1)]}
    theirs = client_for(issue(outsider, other_tenant))
    assert post(theirs, "runs/log-batch", body, status=404)["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert (
        post(theirs, "runs/log-batch", body, status=404, prefix="/t/globex/api/2.0/mlflow")["error_code"]
        == "RESOURCE_DOES_NOT_EXIST"
    )
    reader = client_for(issue(viewer, tenant))
    assert post(reader, "runs/log-batch", body, status=403)["error_code"] == "PERMISSION_DENIED"
    assert not Metric.objects.filter(run__run_id=rid).exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_to_one_run_keep_every_point_and_the_right_latest(owner, tenant):
    secret = issue(owner, tenant)
    mlflow = client_for(secret)
    rid = make_run(mlflow, make_experiment(mlflow))
    errors: list = []
    workers = 4
    per_worker = 10
    start = threading.Barrier(workers)

    def log(w: int) -> None:
        try:
            client = client_for(secret)
            start.wait(timeout=30)
            for i in range(per_worker):
                step = i * workers + w
                metrics = [point(f"m{k}", float(step), 1000 + step, step=step) for k in range(20)]
                # Every writer sends the same retried point too: it must be stored once.
                metrics.append(point("shared", 1.0, 1, step=0))
                res = client.post(
                    "/t/acme/api/2.0/mlflow/runs/log-batch",
                    {"run_id": rid, "metrics": metrics},
                    format="json",
                )
                if res.status_code != 200:
                    errors.append(res.content)
        except Exception as exc:  # collected for the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=log, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    run = Run.objects.get(run_id=rid)
    top = workers * per_worker - 1
    assert Metric.objects.filter(run=run, key="m0").count() == workers * per_worker
    assert {
        (lm.key, lm.step, lm.value) for lm in LatestMetric.objects.filter(run=run).exclude(key="shared")
    } == {(f"m{k}", top, float(top)) for k in range(20)}
    # Identical points racing each other are stored once (the unique point constraint, ON CONFLICT DO NOTHING).
    assert Metric.objects.filter(run=run, key="shared").count() == 1
