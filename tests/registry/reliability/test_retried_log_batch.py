"""A client that retries `runs/log-batch` (after a 503, a timeout, a dropped connection) must not double its points:
MLflow keys a history point by (key, timestamp, step, value), so logging the identical batch again adds nothing.
Pinned here, apart from the log-batch implementation, so a rewrite of the write path keeps it."""

from __future__ import annotations

import pytest

from registry.tracking.models import Metric
from tests.helpers import (
    client_for,
    issue,
    mlflow_create_experiment,
    mlflow_create_run,
    mlflow_get,
    mlflow_post,
)

pytestmark = pytest.mark.django_db


def test_the_same_log_batch_twice_adds_no_duplicate_metric_points(owner, tenant):
    client = client_for(issue(owner, tenant))
    run_id = mlflow_create_run(client, mlflow_create_experiment(client))
    batch = {
        "run_id": run_id,
        "metrics": [
            {"key": "loss", "value": 1.0 / (i + 1), "timestamp": 1000 + i, "step": i} for i in range(5)
        ]
        + [{"key": "auc", "value": 0.9, "timestamp": 2000, "step": 0}],
        "params": [{"key": "lr", "value": "0.1"}],
        "tags": [{"key": "stage", "value": "train"}],
    }
    mlflow_post(client, "runs/log-batch", batch)
    first = mlflow_get(client, "metrics/get-history", {"run_id": run_id, "metric_key": "loss"})["metrics"]
    stored = Metric.objects.filter(run__run_id=run_id).count()

    mlflow_post(client, "runs/log-batch", batch)  # the retry

    again = mlflow_get(client, "metrics/get-history", {"run_id": run_id, "metric_key": "loss"})["metrics"]
    assert len(first) == 5 and again == first
    assert Metric.objects.filter(run__run_id=run_id).count() == stored == 6
    run = mlflow_get(client, "runs/get", {"run_id": run_id})["run"]
    assert run["data"]["params"] == [{"key": "lr", "value": "0.1"}]
    assert {m["key"]: m["value"] for m in run["data"]["metrics"]} == {"loss": 0.2, "auc": 0.9}
    # A genuinely new point (same key and step, another value) is still recorded.
    mlflow_post(
        client,
        "runs/log-batch",
        {"run_id": run_id, "metrics": [{"key": "loss", "value": 0.1, "timestamp": 1004, "step": 4}]},
    )
    assert Metric.objects.filter(run__run_id=run_id).count() == 7
