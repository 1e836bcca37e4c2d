from __future__ import annotations

import pytest

from tests.conftest import client_for, issue


def test_me_answers_for_a_token(owner, tenant):
    res = client_for(issue(owner, tenant)).get("/t/acme/api/v1/me")
    assert res.status_code == 200, res.content
    assert res.json()["username"] == "olivia"
    assert res.json()["teams"] == ["alpha"]


@pytest.mark.django_db(transaction=True)
def test_a_task_round_trips_through_a_real_worker(worker):
    from registry.tasks import ping

    assert ping.delay("hello").get(timeout=30) == "hello"


def test_unknown_mlflow_endpoints_answer_a_json_404(owner, tenant):
    res = client_for(issue(owner, tenant)).post("/t/acme/api/2.0/mlflow/nope/nothing", {}, format="json")
    assert res.status_code == 404
    assert res.json()["error_code"] == "ENDPOINT_NOT_FOUND"


def test_server_info_reports_workspaces(client):
    assert client.get("/api/3.0/mlflow/server-info").json()["workspaces_enabled"] is True
