"""The MLflow tracking API over HTTP (APIClient): experiments, runs, params, metrics, tags, batches, search,
logged models. Permissions, isolation and MLflow's limits and error codes: test_tracking_refusals_api.py."""

from __future__ import annotations

import math

from registry.audit import event_content  # noqa: F401  (imported to make sure the audit module loads)
from registry.models import AuditEvent
from tests.helpers import MLFLOW_API as API
from tests.helpers import client_for, issue
from tests.helpers import mlflow_create_experiment as make_experiment
from tests.helpers import mlflow_create_run as make_run
from tests.helpers import mlflow_get as get
from tests.helpers import mlflow_post as post


def test_the_default_experiment_exists_and_new_ones_get_per_tenant_numbers(mlflow, other_tenant, outsider):
    default = get(mlflow, "experiments/get", {"experiment_id": "0"})["experiment"]
    assert default["name"] == "Default" and default["artifact_location"] == "mlflow-artifacts:/0"
    assert make_experiment(mlflow) == "1"
    assert make_experiment(mlflow, "exp-b") == "2"
    theirs = client_for(issue(outsider, other_tenant))
    assert post(theirs, "experiments/create", {"name": "exp-a"}, prefix="/t/globex/api/2.0/mlflow") == {
        "experiment_id": "1"
    }
    exp = get(mlflow, "experiments/get-by-name", {"experiment_name": "exp-a"})["experiment"]
    assert exp == {
        "experiment_id": "1",
        "name": "exp-a",
        "artifact_location": "mlflow-artifacts:/1",
        "lifecycle_stage": "active",
        "last_update_time": exp["creation_time"],
        "creation_time": exp["creation_time"],
    }
    err = get(mlflow, "experiments/get-by-name", {"experiment_name": "nope"}, status=404)
    assert err["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    dup = post(mlflow, "experiments/create", {"name": "exp-a"}, status=400)
    assert dup["error_code"] == "RESOURCE_ALREADY_EXISTS"
    assert (
        post(mlflow, "experiments/create", {"name": ""}, status=400)["error_code"]
        == "INVALID_PARAMETER_VALUE"
    )


def test_experiments_are_owned_by_the_creators_team_and_audited(mlflow, owner, team, tenant):
    from registry.tracking.models import Experiment

    make_experiment(mlflow)
    experiment = Experiment.objects.get(tenant=tenant, number=1)
    assert experiment.owner_team == team and experiment.created_by == owner
    assert AuditEvent.objects.filter(
        tenant=tenant, action="experiment.created", object_id=str(experiment.pk)
    ).exists()


def test_experiment_update_tag_delete_restore_and_search(mlflow, owner, tenant, tenant_admin):
    eid = make_experiment(mlflow)
    make_experiment(mlflow, "other")
    post(mlflow, "experiments/update", {"experiment_id": eid, "new_name": "renamed"})
    post(mlflow, "experiments/set-experiment-tag", {"experiment_id": eid, "key": "team", "value": "a"})
    exp = get(mlflow, "experiments/get", {"experiment_id": eid})["experiment"]
    assert exp["name"] == "renamed" and exp["tags"] == [{"key": "team", "value": "a"}]

    found = post(
        mlflow,
        "experiments/search",
        {"max_results": 10, "filter": "tags.team = 'a'", "view_type": "ACTIVE_ONLY"},
    )
    assert [e["name"] for e in found["experiments"]] == ["renamed"]
    found = post(mlflow, "experiments/search", {"filter": "name LIKE 're%' AND experiment_id IN ('1', '2')"})
    assert [e["experiment_id"] for e in found["experiments"]] == ["1"]
    page1 = post(mlflow, "experiments/search", {"max_results": 2, "order_by": ["name ASC"]})
    assert [e["name"] for e in page1["experiments"]] == ["Default", "other"]
    page2 = post(
        mlflow,
        "experiments/search",
        {"max_results": 2, "order_by": ["name ASC"], "page_token": page1["next_page_token"]},
    )
    assert [e["name"] for e in page2["experiments"]] == ["renamed"] and "next_page_token" not in page2

    # Deleting an experiment is a manage action: a token without the admin scope may not.
    limited = client_for(issue(owner, tenant, ["read", "write", "promote"]))
    assert (
        post(limited, "experiments/delete", {"experiment_id": eid}, status=403)["error_code"]
        == "PERMISSION_DENIED"
    )
    post(mlflow, "experiments/delete", {"experiment_id": eid})
    assert (
        get(mlflow, "experiments/get", {"experiment_id": eid})["experiment"]["lifecycle_stage"] == "deleted"
    )
    assert [
        e["name"] for e in post(mlflow, "experiments/search", {"view_type": "DELETED_ONLY"})["experiments"]
    ] == ["renamed"]
    post(mlflow, "experiments/restore", {"experiment_id": eid})
    assert get(mlflow, "experiments/get", {"experiment_id": eid})["experiment"]["lifecycle_stage"] == "active"
    admin = client_for(issue(tenant_admin, tenant))
    assert (
        post(admin, "experiments/delete", {"experiment_id": "0"}, status=400)["error_code"]
        == "INVALID_PARAMETER_VALUE"
    )
    bad = post(mlflow, "experiments/search", {"filter": "name = 'a' OR name = 'b'"}, status=400)
    assert bad == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": "Invalid clause(s) in filter string: OR",
    }


def test_a_run_logs_params_metrics_tags_and_batches(mlflow, owner):
    eid = make_experiment(mlflow)
    created = post(
        mlflow,
        "runs/create",
        {
            "experiment_id": eid,
            "user_id": "spoofed",
            "run_name": "parent",
            "start_time": 1000,
            "tags": [{"key": "mlflow.user", "value": "spoofed"}, {"key": "t", "value": "1"}],
        },
    )["run"]
    rid = created["info"]["run_id"]
    assert created["info"]["user_id"] == "olivia" and created["info"]["status"] == "RUNNING"
    assert created["info"]["artifact_uri"] == f"mlflow-artifacts:/{eid}/{rid}/artifacts"
    assert {"key": "mlflow.user", "value": "olivia"} in created["data"]["tags"]
    assert {"key": "mlflow.runName", "value": "parent"} in created["data"]["tags"]

    post(mlflow, "runs/log-parameter", {"run_id": rid, "run_uuid": rid, "key": "alpha", "value": "0.5"})
    post(mlflow, "runs/log-parameter", {"run_id": rid, "key": "alpha", "value": "0.5"})  # same value: fine
    err = post(mlflow, "runs/log-parameter", {"run_id": rid, "key": "alpha", "value": "0.7"}, status=400)
    assert err["error_code"] == "INVALID_PARAMETER_VALUE"
    post(mlflow, "runs/log-metric", {"run_id": rid, "key": "auc", "value": 0.9, "timestamp": 10, "step": 1})
    post(mlflow, "runs/log-metric", {"run_uuid": rid, "key": "auc", "value": 0.8, "timestamp": 20, "step": 0})
    post(
        mlflow, "runs/log-metric", {"run_id": rid, "key": "weird", "value": "NaN", "timestamp": 1, "step": 0}
    )
    post(mlflow, "runs/log-metric", {"run_id": rid, "key": "inf", "value": "Infinity", "timestamp": 1})
    post(mlflow, "runs/set-tag", {"run_id": rid, "key": "team", "value": "a"})
    post(mlflow, "runs/set-tag", {"run_id": rid, "key": "mlflow.user", "value": "mallory"})
    post(
        mlflow,
        "runs/log-batch",
        {
            "run_id": rid,
            "metrics": [{"key": "m", "value": float(i), "timestamp": 5, "step": i} for i in range(5)],
            "params": [{"key": "p1", "value": "1"}],
            "tags": [{"key": "t", "value": "2"}],
        },
    )
    post(mlflow, "runs/delete-tag", {"run_id": rid, "key": "team"})

    run = get(mlflow, "runs/get", {"run_id": rid, "run_uuid": rid})["run"]
    metrics = {m["key"]: m for m in run["data"]["metrics"]}
    assert (
        metrics["auc"]["value"] == 0.9 and metrics["auc"]["step"] == 1
    )  # max step wins, not the newest call
    assert metrics["weird"]["value"] == "NaN" and metrics["inf"]["value"] == "Infinity"
    assert metrics["m"]["value"] == 4.0
    assert run["data"]["params"] == [{"key": "alpha", "value": "0.5"}, {"key": "p1", "value": "1"}]
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert tags["t"] == "2" and "team" not in tags and tags["mlflow.user"] == "olivia"

    history = get(mlflow, "metrics/get-history", {"run_id": rid, "metric_key": "auc", "max_results": 25000})
    assert [(m["value"], m["step"]) for m in history["metrics"]] == [(0.9, 1), (0.8, 0)]
    page = get(mlflow, "metrics/get-history", {"run_id": rid, "metric_key": "m", "max_results": 2})
    assert len(page["metrics"]) == 2 and page["next_page_token"]
    rest = get(
        mlflow,
        "metrics/get-history",
        {"run_id": rid, "metric_key": "m", "max_results": 10, "page_token": page["next_page_token"]},
    )
    assert len(rest["metrics"]) == 3 and "next_page_token" not in rest

    info = post(mlflow, "runs/update", {"run_id": rid, "status": "FINISHED", "end_time": 2000})["run_info"]
    assert info["status"] == "FINISHED" and info["end_time"] == 2000
    post(mlflow, "runs/delete", {"run_id": rid})
    assert get(mlflow, "runs/get", {"run_id": rid})["run"]["info"]["lifecycle_stage"] == "deleted"
    assert (
        post(mlflow, "runs/log-metric", {"run_id": rid, "key": "a", "value": 1, "timestamp": 1}, status=400)[
            "error_code"
        ]
        == "INVALID_PARAMETER_VALUE"
    )
    post(mlflow, "runs/restore", {"run_id": rid})


def test_log_batch_enforces_mlflows_limits(mlflow):
    rid = make_run(mlflow, make_experiment(mlflow))
    too_many = [{"key": f"p{i}", "value": "v"} for i in range(101)]
    assert (
        post(mlflow, "runs/log-batch", {"run_id": rid, "params": too_many}, status=400)["error_code"]
        == "INVALID_PARAMETER_VALUE"
    )
    metrics = [{"key": "m", "value": 1.0, "timestamp": i, "step": i} for i in range(1001)]
    post(mlflow, "runs/log-batch", {"run_id": rid, "metrics": metrics}, status=400)
    mixed = {
        "run_id": rid,
        "metrics": metrics[:950],
        "tags": [{"key": f"t{i}", "value": "v"} for i in range(60)],
    }
    post(mlflow, "runs/log-batch", mixed, status=400)
    post(mlflow, "runs/log-batch", {"run_id": rid, "params": [{"key": "a", "value": "x" * 6001}]}, status=400)
    post(mlflow, "runs/log-batch", {"run_id": rid, "params": [{"key": "../a", "value": "x"}]}, status=400)
    post(mlflow, "runs/log-batch", {"run_id": rid, "tags": [{"key": "k" * 251, "value": "x"}]}, status=400)
    post(
        mlflow,
        "runs/log-batch",
        {"run_id": rid, "params": [{"key": "a", "value": "1"}, {"key": "a", "value": "2"}]},
        status=400,
    )
    post(mlflow, "runs/log-metric", {"run_id": rid, "key": "m", "value": "abc", "timestamp": 1}, status=400)
    post(mlflow, "runs/log-batch", {"run_id": rid, "metrics": metrics[:1000]})


def test_log_batch_is_a_handful_of_queries(mlflow, django_assert_max_num_queries):
    rid = make_run(mlflow, make_experiment(mlflow))
    body = {
        "run_id": rid,
        "metrics": [{"key": f"m{i % 50}", "value": float(i), "timestamp": i, "step": i} for i in range(900)],
        "params": [{"key": f"p{i}", "value": "v"} for i in range(50)],
        "tags": [{"key": f"t{i}", "value": "v"} for i in range(50)],
    }
    with django_assert_max_num_queries(30):
        post(mlflow, "runs/log-batch", body)


def test_search_runs_filters_orders_and_pages(mlflow):
    eid = make_experiment(mlflow)
    ids = []
    for i in range(5):
        rid = make_run(mlflow, eid, name=f"r{i}", start_time=1000 + i)
        post(
            mlflow,
            "runs/log-batch",
            {
                "run_id": rid,
                "metrics": [{"key": "auc", "value": 0.5 + i / 10, "timestamp": 1, "step": 0}],
                "params": [{"key": "lr", "value": str(i % 2)}],
            },
        )
        ids.append(rid)
    parent = ids[0]
    child = make_run(mlflow, eid, name="child", tags=[{"key": "mlflow.parentRunId", "value": parent}])

    def search(**body):
        body.setdefault("experiment_ids", [eid])
        return post(mlflow, "runs/search", body)

    assert [
        r["info"]["run_id"] for r in search(filter=f"tags.`mlflow.parentRunId` = '{parent}'")["runs"]
    ] == [child]
    found = search(filter="metrics.auc > 0.65 and params.lr = '1'", order_by=["metrics.auc DESC"])
    assert [r["info"]["run_name"] for r in found["runs"]] == ["r3"]
    found = search(filter="metrics.auc >= 0.6", order_by=["metrics.auc ASC"])
    assert [r["info"]["run_name"] for r in found["runs"]] == ["r1", "r2", "r3", "r4"]
    found = search(order_by=["metrics.auc DESC"])
    assert [r["info"]["run_name"] for r in found["runs"]][:2] == ["r4", "r3"]
    assert found["runs"][-1]["info"]["run_name"] == "child"  # runs without the metric sort last
    assert [
        r["info"]["run_name"]
        for r in search(filter="attributes.run_name LIKE 'r%'", max_results=100, order_by=["start_time ASC"])[
            "runs"
        ]
    ] == [f"r{i}" for i in range(5)]
    assert [r["info"]["run_name"] for r in search(filter="params.lr IS NULL")["runs"]] == ["child"]
    assert [
        r["info"]["run_name"]
        for r in search(filter=f"run_id IN ('{ids[1]}', '{ids[2]}')", order_by=["run_name"])["runs"]
    ] == ["r1", "r2"]
    seen, token = [], None
    while True:
        body = {"max_results": 2}
        if token:
            body["page_token"] = token
        page = search(**body)
        seen += [r["info"]["run_id"] for r in page["runs"]]
        token = page.get("next_page_token")
        if not token:
            break
    assert len(seen) == 6 and len(set(seen)) == 6
    assert search(experiment_ids=["999"]) == {}
    for bad in [
        "metrics.auc > 0.5 OR metrics.auc < 0.1",
        "params.lr = 1",
        "drop table",
        "params.a = 'x'; --",
        "foo.bar = 'x'",
        "metrics.auc > 'x'",
    ]:
        res = mlflow.post(f"{API}/runs/search", {"experiment_ids": [eid], "filter": bad}, format="json")
        assert res.status_code == 400 and res.json()["error_code"] == "INVALID_PARAMETER_VALUE", bad
    res = mlflow.post(f"{API}/runs/search", {"experiment_ids": [eid], "page_token": "bogus"}, format="json")
    assert res.status_code == 400
    res = mlflow.post(f"{API}/runs/search", {"experiment_ids": [eid], "max_results": 50001}, format="json")
    assert res.status_code == 400


def test_logged_models_create_get_finalize_tag_and_search(mlflow):
    eid = make_experiment(mlflow)
    rid = make_run(mlflow, eid)
    post(mlflow, "runs/log-parameter", {"run_id": rid, "key": "alpha", "value": "0.5"})
    model = post(
        mlflow,
        "logged-models",
        {
            "experiment_id": eid,
            "name": "model",
            "source_run_id": rid,
            "params": [{"key": "alpha", "value": "0.5"}],
            "tags": [{"key": "mlflow.source.type", "value": "LOCAL"}],
        },
    )["model"]
    mid = model["info"]["model_id"]
    assert mid.startswith("m-") and model["info"]["status"] == "LOGGED_MODEL_PENDING"
    assert model["info"]["artifact_uri"] == f"mlflow-artifacts:/{eid}/models/{mid}/artifacts"
    assert model["data"]["params"] == [{"key": "alpha", "value": "0.5"}]
    post(mlflow, "runs/outputs", {"run_id": rid, "models": [{"model_id": mid, "step": 0}]})
    post(
        mlflow,
        "runs/log-batch",
        {"run_id": rid, "metrics": [{"key": "m1", "value": 1.0, "timestamp": 5, "step": 0, "model_id": mid}]},
    )
    got = get(mlflow, f"logged-models/{mid}")["model"]
    assert got["data"]["metrics"] == [
        {"key": "m1", "value": 1.0, "timestamp": 5, "step": 0, "model_id": mid, "run_id": rid}
    ]
    run = get(mlflow, "runs/get", {"run_id": rid})["run"]
    assert run["outputs"] == {"model_outputs": [{"model_id": mid, "step": 0}]}
    done = mlflow.patch(
        f"{API}/logged-models/{mid}", {"model_id": mid, "status": "LOGGED_MODEL_READY"}, format="json"
    )
    assert done.status_code == 200 and done.json()["model"]["info"]["status"] == "LOGGED_MODEL_READY"
    res = mlflow.patch(
        f"{API}/logged-models/{mid}/tags", {"tags": [{"key": "k", "value": "v"}]}, format="json"
    )
    assert res.status_code == 200 and res.json() == {}
    assert {"key": "k", "value": "v"} in get(mlflow, f"logged-models/{mid}")["model"]["info"]["tags"]
    assert mlflow.delete(f"{API}/logged-models/{mid}/tags/k").status_code == 200
    found = post(mlflow, "logged-models/search", {"experiment_ids": [eid], "filter": "name = 'model'"})
    assert [m["info"]["model_id"] for m in found["models"]] == [mid]
    assert post(mlflow, "logged-models/search", {"experiment_ids": [eid], "filter": "name = 'nope'"}) == {}
    found = post(
        mlflow,
        "logged-models/search",
        {
            "experiment_ids": [eid],
            "filter": "metrics.m1 > 0.5",
            "order_by": [{"field_name": "creation_timestamp", "ascending": False}],
        },
    )
    assert len(found["models"]) == 1
    assert get(mlflow, "logged-models/m-0000", status=404)["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_nan_metrics_are_kept_in_history(mlflow):
    rid = make_run(mlflow, make_experiment(mlflow))
    post(
        mlflow,
        "runs/log-batch",
        {
            "run_id": rid,
            "metrics": [
                {"key": "x", "value": "NaN", "timestamp": 1, "step": 0},
                {"key": "x", "value": "-Infinity", "timestamp": 2, "step": 0},
            ],
        },
    )
    values = [
        m["value"] for m in get(mlflow, "metrics/get-history", {"run_id": rid, "metric_key": "x"})["metrics"]
    ]
    assert values == ["NaN", "-Infinity"]
    assert not math.isnan(0.0)
