"""Search endpoints answer the HTTP methods MLflow's server routes for them (the rpc endpoints in MLflow's protos):
registered-models and model-versions search are GET only, with the filter in the query string however long;
runs, experiments and logged-models search take POST with a JSON body."""

from __future__ import annotations

import pytest

from tests.helpers import client_for, issue

MLFLOW = "/t/acme/api/2.0/mlflow"


@pytest.fixture
def client(owner, tenant):
    client = client_for(issue(owner, tenant))
    assert (
        client.post(f"{MLFLOW}/registered-models/create", {"name": "churn"}, format="json").status_code == 200
    )
    return client


def long_filter() -> str:
    names = ", ".join(f"'model-{n}'" for n in range(900))  # ~13 KB: past gunicorn's default request line
    return f"name IN ('churn', {names})"


@pytest.mark.parametrize("path", ["registered-models/search", "model-versions/search"])
def test_registry_searches_take_a_long_filter_by_get(client, path):
    res = client.get(f"{MLFLOW}/{path}", {"filter": long_filter()})
    assert res.status_code == 200, res.content[:500]


def test_registered_model_search_finds_by_a_long_filter(client):
    res = client.get(f"{MLFLOW}/registered-models/search", {"filter": long_filter()})
    assert [m["name"] for m in res.json()["registered_models"]] == ["churn"]


@pytest.mark.parametrize("path", ["registered-models/search", "model-versions/search"])
def test_registry_searches_are_not_routed_for_post_as_in_mlflow(client, path):
    res = client.post(f"{MLFLOW}/{path}", {"filter": "name = 'churn'"}, format="json")
    assert res.status_code == 404
    assert res.json()["error_code"] == "ENDPOINT_NOT_FOUND"


def test_runs_and_experiments_search_take_the_filter_in_a_post_body(client):
    experiment_id = client.post(f"{MLFLOW}/experiments/create", {"name": "exp"}, format="json").json()[
        "experiment_id"
    ]
    res = client.post(
        f"{MLFLOW}/experiments/search", {"filter": "name = 'exp'", "max_results": 10}, format="json"
    )
    assert [e["name"] for e in res.json()["experiments"]] == ["exp"]
    res = client.post(
        f"{MLFLOW}/runs/search",
        {"experiment_ids": [experiment_id], "filter": "params.a = '" + "x" * 5000 + "'"},
        format="json",
    )
    assert res.status_code == 200, res.content
