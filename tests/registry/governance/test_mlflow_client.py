"""The official MLflow client's direct stage change (`MlflowClient().transition_model_version_stage`) against a live
Modelgate: refused with PERMISSION_DENIED where the model's policy requires approval (the message says how to
request it), allowed for a tenant admin, and held to the policy gate (409, with `gate.failed` committed)."""

from __future__ import annotations

import pytest

from registry import services
from registry.models import AuditEvent
from tests.helpers import issue

from .conftest import add_version, stage_of

pytestmark = [
    pytest.mark.mlflow_client,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore:.*Model registry stages will be removed:FutureWarning"),
]


@pytest.fixture
def mlflow_client(monkeypatch, live_server):
    """`mlflow_client(token)` → an MlflowClient for tenant acme on the live server, authenticated with `token`."""
    import mlflow
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # a bug must fail now, not after retries
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)

    def make(token: str) -> MlflowClient:
        uri = f"{live_server.url}/t/acme"
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
        mlflow.set_tracking_uri(uri)
        return MlflowClient(tracking_uri=uri, registry_uri=uri)

    return make


def test_the_mlflow_client_is_refused_where_policy_requires_approval_but_a_tenant_admin_may(
    mlflow_client, p_owner, model, v2, tenant, owner, tenant_admin
):
    from mlflow.exceptions import MlflowException

    services.transition_policy_set(principal=p_owner, model=model, stage="Production")
    client = mlflow_client(issue(owner, tenant))
    with pytest.raises(MlflowException) as exc:
        client.transition_model_version_stage("churn", "2", "Production")
    assert exc.value.error_code == "PERMISSION_DENIED"
    assert "transition-requests" in exc.value.message
    assert stage_of(model, 2) == "None"
    # Stages without a policy still move directly.
    assert client.transition_model_version_stage("churn", "2", "staging").current_stage == "Staging"

    admin = mlflow_client(issue(tenant_admin, tenant))
    moved = admin.transition_model_version_stage("churn", "2", "Production", archive_existing_versions=True)
    assert moved.current_stage == "Production"
    assert stage_of(model, 2) == "Production" and stage_of(model, 1) == "Archived"


def test_the_mlflow_client_is_held_to_the_policy_gate(mlflow_client, p_owner, model, v2, tenant, owner):
    from mlflow.exceptions import MlflowException

    services.transition_policy_set(
        principal=p_owner,
        model=model,
        stage="Production",
        requires_approval=False,
        gate={"metric": "auc", "op": ">=", "compare_to": "Production", "min_delta": 0.05},
    )
    client = mlflow_client(issue(owner, tenant))
    with pytest.raises(MlflowException) as exc:
        client.transition_model_version_stage("churn", "2", "Production")
    assert "Gate failed" in exc.value.message and "auc 0.83 is not >= 0.85" in exc.value.message
    assert stage_of(model, 2) == "None" and stage_of(model, 1) == "Production"
    # Committed by the server's own transaction, though the promotion was refused.
    failed = AuditEvent.objects.get(action="gate.failed", model_id=model.pk)
    assert failed.version == 2 and failed.after["gate"]["checks"][0]["incumbent_value"] == 0.8

    add_version(p_owner, model, tenant, metrics={"auc": 0.9})
    assert client.transition_model_version_stage("churn", "3", "Production").current_stage == "Production"
