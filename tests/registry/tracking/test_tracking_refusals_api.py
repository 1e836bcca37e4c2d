"""The MLflow tracking API over HTTP (APIClient): permissions, isolation, and MLflow's limits and error codes."""

from __future__ import annotations

from registry.audit import event_content  # noqa: F401  (imported to make sure the audit module loads)
from tests.helpers import MLFLOW_API as API
from tests.helpers import client_for, issue
from tests.helpers import mlflow_create_experiment as make_experiment
from tests.helpers import mlflow_create_run as make_run
from tests.helpers import mlflow_get as get
from tests.helpers import mlflow_post as post


def test_viewers_and_read_tokens_cannot_log(mlflow, tenant, viewer, owner, teammate):
    eid = make_experiment(mlflow)
    rid = make_run(mlflow, eid)
    for client in (
        client_for(issue(viewer, tenant)),
        client_for(issue(owner, tenant, ["read"])),
        client_for(issue(teammate, tenant)),
    ):
        assert get(client, "runs/get", {"run_id": rid})["run"]["info"]["run_id"] == rid
        for path, body in [
            ("runs/log-metric", {"run_id": rid, "key": "a", "value": 1, "timestamp": 1}),
            ("runs/log-parameter", {"run_id": rid, "key": "a", "value": "1"}),
            ("runs/set-tag", {"run_id": rid, "key": "a", "value": "1"}),
            ("runs/log-batch", {"run_id": rid, "params": [{"key": "a", "value": "1"}]}),
            ("runs/update", {"run_id": rid, "status": "FAILED"}),
            ("runs/create", {"experiment_id": eid}),
            ("logged-models", {"experiment_id": eid, "name": "m"}),
            ("experiments/set-experiment-tag", {"experiment_id": eid, "key": "a", "value": "b"}),
        ]:
            err = post(client, path, body, status=403)
            assert err["error_code"] == "PERMISSION_DENIED", path
    assert post(client_for(issue(viewer, tenant)), "experiments/create", {"name": "v"}, status=403)


def test_another_tenant_sees_nothing_by_either_route(mlflow, tenant, outsider, other_tenant):
    eid = make_experiment(mlflow)
    rid = make_run(mlflow, eid)
    theirs = client_for(issue(outsider, other_tenant))
    for prefix, extra in ((API, {}), ("/api/2.0/mlflow", {"HTTP_X_MLFLOW_WORKSPACE": "acme"})):
        assert get(theirs, "experiments/get", {"experiment_id": eid}, status=404, prefix=prefix, **extra)
        assert get(theirs, "runs/get", {"run_id": rid}, status=404, prefix=prefix, **extra)
        assert get(
            theirs,
            "experiments/get-by-name",
            {"experiment_name": "exp-a"},
            status=404,
            prefix=prefix,
            **extra,
        )
        post(
            theirs,
            "runs/log-metric",
            {"run_id": rid, "key": "a", "value": 1, "timestamp": 1},
            status=404,
            prefix=prefix,
            **extra,
        )
    # In their own tenant, acme's ids name nothing.
    own = "/t/globex/api/2.0/mlflow"
    assert (
        get(theirs, "runs/get", {"run_id": rid}, status=404, prefix=own)["error_code"]
        == "RESOURCE_DOES_NOT_EXIST"
    )
    post(theirs, "runs/set-tag", {"run_id": rid, "key": "a", "value": "b"}, status=404, prefix=own)
    assert post(theirs, "runs/search", {"experiment_ids": [eid]}, prefix=own) == {}
    assert [e["name"] for e in post(theirs, "experiments/search", {}, prefix=own)["experiments"]] == [
        "Default"
    ]


MALFORMED = [
    ("get", "runs/get", {"run_id": "\x00"}),
    ("get", "experiments/get-by-name", {"experiment_name": "a\x00b"}),
    ("get", "experiments/get", {"experiment_id": "9" * 40}),
    ("get", "metrics/get-history", {"run_id": "RID", "metric_key": "\x00"}),
    ("get", "logged-models/m-\x00", {}),
    ("post", "runs/delete-tag", {"run_id": "RID", "key": "\x00"}),
    ("post", "runs/log-metric", {"run_id": "RID", "key": "a", "value": 1, "timestamp": 10**30}),
    ("post", "runs/log-metric", {"run_id": "RID", "key": "a", "value": [1], "timestamp": 1}),
    ("post", "runs/log-metric", {"run_id": "RID", "key": "a", "value": 1, "step": "x"}),
    ("post", "runs/log-batch", {"run_id": "RID", "metrics": "x"}),
    ("post", "runs/log-batch", {"run_id": "RID", "metrics": [1]}),
    ("post", "runs/log-batch", {"run_id": "RID", "tags": [{"key": "a", "value": {"x": 1}}]}),
    ("post", "runs/create", {"experiment_id": "EID", "tags": "x"}),
    ("post", "runs/create", {"experiment_id": "EID", "start_time": "soon"}),
    ("post", "runs/update", {"run_id": "RID", "status": ["x"]}),
    ("post", "runs/update", {"run_id": "RID", "end_time": 1.5}),
    ("post", "runs/search", {"experiment_ids": "EID"}),
    ("post", "runs/search", {"experiment_ids": ["EID"], "order_by": [1]}),
    ("post", "runs/search", {"experiment_ids": ["EID"], "max_results": "ten"}),
    ("post", "runs/search", {"experiment_ids": ["EID"], "filter": 5}),
    ("post", "runs/search", {"experiment_ids": [None, {"a": 1}]}),
    ("post", "runs/search", {"experiment_ids": ["EID"], "filter": "params.a = 'x\x00'"}),
    ("post", "experiments/search", {"view_type": "NOPE"}),
    ("post", "experiments/create", {"name": ["x"]}),
    ("post", "experiments/create", {"name": "x", "tags": [{"key": "\x00", "value": "v"}]}),
    ("post", "logged-models", {"experiment_id": "EID", "name": "a\x00"}),
    ("post", "logged-models/search", {"experiment_ids": ["EID"], "order_by": [{"field_name": 3}]}),
    ("post", "logged-models/search", {"experiment_ids": ["EID"], "order_by": ["bogus"]}),
    ("post", "runs/outputs", {"run_id": "RID", "models": [{"model_id": "m-x", "step": "y"}]}),
    ("post", "runs/set-tag", {"run_id": "RID", "key": "k", "value": "\x00"}),
    ("post", "experiments/update", {"experiment_id": "EID", "new_name": "\x00"}),
]


def test_malformed_requests_are_client_errors_never_5xx(mlflow):
    """The MLflow client retries 5xx for minutes: every malformed request must be a 4xx."""
    eid = make_experiment(mlflow)
    rid = make_run(mlflow, eid)
    for method, path, body in MALFORMED:
        body = {
            k: (v.replace("RID", rid).replace("EID", eid) if isinstance(v, str) else v)
            for k, v in body.items()
        }
        if method == "get":
            res = mlflow.get(f"{API}/{path}", body)
        else:
            res = mlflow.post(f"{API}/{path}", body, format="json")
        assert res.status_code < 500, (path, body, res.status_code, res.content)
        if res.status_code >= 400:
            assert res.json()["error_code"] in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST"), (
                path,
                body,
            )
        else:  # a lookup that names nothing (a NUL metric key) may answer an empty result
            assert res.json() in ({}, {"metrics": []}), (path, body, res.content)


def test_every_member_logs_to_the_default_experiment_even_without_read_all(tenant, teammate, viewer):
    tenant.members_read_all = False
    tenant.save(update_fields=["members_read_all"])
    client = client_for(issue(teammate, tenant))
    rid = post(client, "runs/create", {"experiment_id": "0"})["run"]["info"]["run_id"]
    post(client, "runs/log-metric", {"run_id": rid, "key": "a", "value": 1, "timestamp": 1})
    assert [r["info"]["run_id"] for r in post(client, "runs/search", {"experiment_ids": ["0"]})["runs"]] == [
        rid
    ]
    assert "Default" in [e["name"] for e in post(client, "experiments/search", {})["experiments"]]
    viewer_client = client_for(issue(viewer, tenant))
    assert get(viewer_client, "runs/get", {"run_id": rid})["run"]["info"]["run_id"] == rid
    post(viewer_client, "runs/create", {"experiment_id": "0"}, status=403)
    # Renaming or tagging Default is not scratch work: it still needs the experiment's own levels.
    post(client, "experiments/update", {"experiment_id": "0", "new_name": "Mine"}, status=403)
