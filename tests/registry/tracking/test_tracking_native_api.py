"""The native tracking API: experiments (list, detail, grants) and runs (detail, comparison)."""

from __future__ import annotations

import pytest

from tests.helpers import client_for, issue

V1 = "/t/acme/api/v1"
MLFLOW = "/t/acme/api/2.0/mlflow"


def mlflow_post(client, path, body):
    res = client.post(f"{MLFLOW}/{path}", body, format="json")
    assert res.status_code == 200, res.content
    return res.json()


@pytest.fixture
def setup(owner, tenant):
    client = client_for(issue(owner, tenant))
    eid = mlflow_post(client, "experiments/create", {"name": "exp-native"})["experiment_id"]
    runs = []
    for i, (lr, auc) in enumerate([("0.1", 0.8), ("0.1", 0.9), ("0.2", float("nan"))]):
        rid = mlflow_post(client, "runs/create", {"experiment_id": eid, "run_name": f"r{i}"})["run"]["info"][
            "run_id"
        ]
        mlflow_post(
            client,
            "runs/log-batch",
            {
                "run_id": rid,
                "params": [{"key": "lr", "value": lr}],
                "metrics": [{"key": "auc", "value": auc if auc == auc else "NaN", "timestamp": 1, "step": 0}],
                "tags": [{"key": "team", "value": "a"}],
            },
        )
        runs.append(rid)
    mlflow_post(client, "runs/log-parameter", {"run_id": runs[0], "key": "only_first", "value": "x"})
    return eid, runs


def test_experiments_list_and_detail_show_what_you_may_read(owner, tenant, setup, teammate):
    eid, _ = setup
    client = client_for(issue(owner, tenant))
    listing = client.get(f"{V1}/experiments/")
    assert listing.status_code == 200
    assert [e["name"] for e in listing.json()["results"]] == ["exp-native", "Default"]
    assert listing.json()["results"][0]["owner_team"] == "alpha"
    detail = client.get(f"{V1}/experiments/{eid}").json()
    assert detail["experiment_id"] == eid and detail["permission_level"] == "manage" and detail["runs"] == 3
    assert client.get(f"{V1}/experiments/", {"name": "NATIVE"}).json()["count"] == 1

    tenant.members_read_all = False
    tenant.save(update_fields=["members_read_all"])
    theirs = client_for(issue(teammate, tenant))
    assert [e["name"] for e in theirs.get(f"{V1}/experiments/").json()["results"]] == ["Default"]
    assert theirs.get(f"{V1}/experiments/{eid}").status_code == 404


def test_experiment_grants_are_replaced_by_a_manager_and_then_apply(
    owner, tenant, setup, teammate, other_team
):
    eid, runs = setup
    tenant.members_read_all = False
    tenant.save(update_fields=["members_read_all"])
    manager = client_for(issue(owner, tenant, ["read", "write", "admin"]))
    assert manager.get(f"{V1}/experiments/{eid}/permissions").json() == {"grants": []}
    res = manager.put(
        f"{V1}/experiments/{eid}/permissions", {"grants": [{"team": "beta", "level": "edit"}]}, format="json"
    )
    assert res.status_code == 200, res.content
    assert res.json() == {"grants": [{"team": "beta", "level": "edit"}]}
    theirs = client_for(issue(teammate, tenant))
    assert theirs.get(f"{V1}/experiments/{eid}").json()["permission_level"] == "edit"
    res = theirs.post(
        f"{MLFLOW}/runs/log-metric",
        {"run_id": runs[0], "key": "x", "value": 1, "timestamp": 1},
        format="json",
    )
    assert res.status_code == 200
    # edit is not manage: the teammate cannot hand out grants
    res = client_for(issue(teammate, tenant, ["read", "write", "admin"])).put(
        f"{V1}/experiments/{eid}/permissions", {"grants": []}, format="json"
    )
    assert res.status_code == 403 and res.json()["error_code"] == "PERMISSION_DENIED"
    bad = manager.put(
        f"{V1}/experiments/{eid}/permissions", {"grants": [{"team": "nope", "level": "edit"}]}, format="json"
    )
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    bad = manager.put(f"{V1}/experiments/{eid}/permissions", {"grants": [{"level": "edit"}]}, format="json")
    assert bad.status_code == 400


def test_a_viewer_and_another_tenant_are_refused(owner, tenant, setup, viewer, outsider, other_tenant):
    eid, runs = setup
    viewer_client = client_for(issue(viewer, tenant))
    assert viewer_client.get(f"{V1}/experiments/{eid}").status_code == 200
    res = viewer_client.put(f"{V1}/experiments/{eid}/permissions", {"grants": []}, format="json")
    assert res.status_code == 403
    theirs = client_for(issue(outsider, other_tenant))
    for path in (
        f"{V1}/experiments/",
        f"{V1}/experiments/{eid}",
        f"{V1}/experiments/{eid}/permissions",
        f"{V1}/runs/{runs[0]}",
        f"{V1}/runs/compare?run_ids={runs[0]},{runs[1]}",
    ):
        res = theirs.get(path)
        assert res.status_code == 404 and res.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST", path
    own = "/t/globex/api/v1"
    assert theirs.get(f"{own}/runs/{runs[0]}").status_code == 404
    assert theirs.get(f"{own}/runs/compare", {"run_ids": runs[0]}).status_code == 404
    assert theirs.get(f"{own}/experiments/{eid}").status_code == 404
    assert client_for(None).get(f"{V1}/experiments/").status_code == 401


def test_runs_compare_side_by_side_and_flags_differences(owner, tenant, setup):
    _, runs = setup
    client = client_for(issue(owner, tenant))
    res = client.get(f"{V1}/runs/compare", {"run_ids": ",".join(runs)})
    assert res.status_code == 200, res.content
    body = res.json()
    assert [r["run_id"] for r in body["runs"]] == runs
    params = {row["key"]: row for row in body["params"]}
    assert params["lr"]["differs"] is True and params["lr"]["values"][runs[0]] == "0.1"
    assert params["only_first"]["differs"] is True and params["only_first"]["values"][runs[1]] is None
    tags = {row["key"]: row for row in body["tags"]}
    assert tags["team"]["differs"] is False
    metrics = {row["key"]: row for row in body["metrics"]}
    assert metrics["auc"]["values"][runs[2]] == "NaN" and metrics["auc"]["differs"] is True
    same = client.get(f"{V1}/runs/compare", {"run_ids": f"{runs[0]},{runs[1]}"}).json()
    assert {r["key"]: r["differs"] for r in same["params"]} == {"lr": False, "only_first": True}
    assert client.get(f"{V1}/runs/compare").status_code == 400
    assert client.get(f"{V1}/runs/compare", {"run_ids": f"{runs[0]},deadbeef"}).status_code == 404


def test_run_detail_shows_data_and_parent(owner, tenant, setup):
    eid, runs = setup
    client = client_for(issue(owner, tenant))
    child = mlflow_post(
        client,
        "runs/create",
        {"experiment_id": eid, "tags": [{"key": "mlflow.parentRunId", "value": runs[0]}]},
    )["run"]["info"]["run_id"]
    detail = client.get(f"{V1}/runs/{child}").json()
    assert detail["parent_run_id"] == runs[0] and detail["user"] == "olivia"
    first = client.get(f"{V1}/runs/{runs[0]}").json()
    assert first["params"] == {"lr": "0.1", "only_first": "x"} and first["metrics"]["auc"]["value"] == 0.8


def test_the_openapi_schema_documents_the_tracking_api(client):
    res = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert res.status_code == 200
    paths = res.json()["paths"] if res["Content-Type"].startswith("application/json") else None
    if paths is None:
        import yaml  # pragma: no cover

        paths = yaml.safe_load(res.content)["paths"]
    assert "/t/{tenant}/api/v1/runs/compare" in paths
    assert "/t/{tenant}/api/v1/experiments/{experiment_id}/permissions" in paths
