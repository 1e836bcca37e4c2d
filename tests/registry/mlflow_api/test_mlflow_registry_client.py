"""The register-and-promote workflow through the official MLflow client (mlflow-skinny 3.17.2) against a live
Modelgate and a real Celery worker: `log_model(..., registered_model_name=…)`, tags and descriptions, search,
Staging → Production, `get_latest_versions`, aliases, loading by stage, alias and version, `mlflow models serve`
of `models:/<name>@champion`, and retrain → compare with Production → promote with archive.

Few, combined tests: each drives a real client against a real server thread (seconds on a small machine)."""

from __future__ import annotations

import time

import pytest

from tests.helpers import issue, mlflow_serve_predict

pytestmark = [
    pytest.mark.mlflow_client,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore:.*Model registry stages will be removed:FutureWarning"),
]

ALL_SCOPES = ["read", "write", "promote", "admin"]


def dataset(seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=0.5, size=200) > 0).astype(int)
    return X, y


def train_and_register(name: str, *, C: float, seed: int = 0, shuffled_labels: bool = False):
    """Train, log metrics and the model, and register it as a new version of `name` (one client call).
    `shuffled_labels` trains on noise: a deliberately weak model for the retrain-and-compare step."""
    import mlflow
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    X, y = dataset(seed)
    train_y = np.random.default_rng(seed).permutation(y[:150]) if shuffled_labels else y[:150]
    clf = LogisticRegression(C=C, max_iter=200).fit(X[:150], train_y)
    auc = float(roc_auc_score(y[150:], clf.predict_proba(X[150:])[:, 1]))
    with mlflow.start_run() as run:
        mlflow.log_param("C", C)
        mlflow.log_metric("auc", auc)
        info = mlflow.sklearn.log_model(
            clf,
            name="model",
            registered_model_name=name,
            input_example=X[:2],
            serialization_format="cloudpickle",
        )  # skops is not installed
    return run.info.run_id, info, auc


def test_register_promote_load_and_serve_through_the_mlflow_client(
    mlflow_env, worker, owner, tenant, tmp_path
):
    import mlflow
    import numpy as np
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    mlflow_env(issue(owner, tenant, ALL_SCOPES))
    mlflow.set_experiment("churn-training")
    client = MlflowClient()

    # Train and register version 1 in one call: the version must come back READY, quickly.
    started = time.monotonic()
    run1, info1, auc1 = train_and_register("churn", C=1.0, shuffled_labels=True)
    v1 = client.get_model_version("churn", "1")
    assert v1.status == "READY"
    assert v1.run_id == run1
    assert str(info1.registered_model_version) == "1"
    assert time.monotonic() - started < 60

    # Tags and descriptions.
    client.update_registered_model("churn", description="Churn classifier")
    client.set_registered_model_tag("churn", "task", "classification")
    client.update_model_version("churn", "1", description="first")
    client.set_model_version_tag("churn", "1", "validated", "yes")
    model = client.get_registered_model("churn")
    assert model.description == "Churn classifier"
    assert model.tags == {"task": "classification", "owner_team": "alpha"}
    assert client.get_model_version("churn", "1").tags == {"validated": "yes"}
    client.delete_model_version_tag("churn", "1", "validated")
    assert client.get_model_version("churn", "1").tags == {}

    # Search by name and by tag.
    assert [m.name for m in client.search_registered_models(filter_string="name = 'churn'")] == ["churn"]
    assert [m.name for m in client.search_registered_models(filter_string="name LIKE 'chu%'")] == ["churn"]
    assert [
        m.name for m in client.search_registered_models(filter_string="tags.task = 'classification'")
    ] == ["churn"]
    assert client.search_registered_models(filter_string="tags.task = 'regression'") == []
    assert [v.version for v in client.search_model_versions("name = 'churn'")] == ["1"]

    # Staging → Production; get_latest_versions.
    assert client.transition_model_version_stage("churn", "1", "staging").current_stage == "Staging"
    assert [v.version for v in client.get_latest_versions("churn", stages=["Staging"])] == ["1"]
    client.transition_model_version_stage("churn", "1", "Production", archive_existing_versions=True)
    assert [v.version for v in client.get_latest_versions("churn", stages=["Production"])] == ["1"]
    assert client.get_latest_versions("churn", stages=["Staging"]) == []

    # Aliases.
    client.set_registered_model_alias("churn", "champion", "1")
    assert client.get_model_version_by_alias("churn", "champion").version == "1"
    assert client.get_registered_model("churn").aliases == {"champion": "1"}

    # Load by stage, alias and version: the same model, the same predictions.
    X, _ = dataset(99)
    by_stage = mlflow.pyfunc.load_model("models:/churn/Production").predict(X[:20])
    by_alias = mlflow.pyfunc.load_model("models:/churn@champion").predict(X[:20])
    by_version = mlflow.pyfunc.load_model("models:/churn/1").predict(X[:20])
    assert np.array_equal(by_stage, by_alias) and np.array_equal(by_alias, by_version)

    # Serve the champion with `mlflow models serve` and score over HTTP.
    assert mlflow_serve_predict("models:/churn@champion", X[:20].tolist(), tmp_path) == by_alias.tolist()

    # Retrain → compare with Production → promote with archive.
    run2, _info2, auc2 = train_and_register("churn", C=1.0)
    v2 = client.get_model_version("churn", "2")
    assert v2.status == "READY" and v2.run_id == run2
    production = client.get_latest_versions("churn", stages=["Production"])[0]
    production_auc = client.get_run(production.run_id).data.metrics["auc"]
    assert production_auc == pytest.approx(auc1)
    candidate_auc = client.get_run(v2.run_id).data.metrics["auc"]
    assert candidate_auc == pytest.approx(auc2)
    assert candidate_auc > production_auc + 0.05  # the gate a CI job applies before promoting
    client.transition_model_version_stage("churn", "2", "Production", archive_existing_versions=True)
    assert [v.version for v in client.get_latest_versions("churn", stages=["Production"])] == ["2"]
    assert client.get_model_version("churn", "1").current_stage == "Archived"
    client.set_registered_model_alias("churn", "champion", "2")
    assert client.get_model_version_by_alias("churn", "champion").version == "2"
    new_preds = mlflow.pyfunc.load_model("models:/churn@champion").predict(X[:20])
    assert np.array_equal(new_preds, mlflow.pyfunc.load_model("models:/churn/2").predict(X[:20]))

    # The registered snapshot of version 1 is what `models:/churn/1` still loads.
    assert np.array_equal(mlflow.pyfunc.load_model("models:/churn/1").predict(X[:20]), by_version)

    # Delete the alias; an unknown alias is MLflow's INVALID_PARAMETER_VALUE.
    client.delete_registered_model_alias("churn", "champion")
    with pytest.raises(MlflowException) as exc:
        client.get_model_version_by_alias("churn", "champion")
    assert exc.value.error_code == "INVALID_PARAMETER_VALUE"

    # Rename and delete (manage) work through the client too.
    client.rename_registered_model("churn", "churn-v2")
    assert client.get_registered_model("churn-v2").name == "churn-v2"
    client.delete_model_version("churn-v2", "1")
    client.delete_registered_model("churn-v2")
    with pytest.raises(MlflowException) as exc:
        client.get_registered_model("churn-v2")
    assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_the_mlflow_client_is_refused_across_tenants_and_for_read_only_users(
    mlflow_env, worker, owner, viewer, outsider, tenant, other_tenant
):
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    mlflow_env(issue(owner, tenant))
    mlflow.set_experiment("exp")
    train_and_register("shared", C=1.0)

    mlflow_env(issue(viewer, tenant))
    client = MlflowClient()
    assert client.get_model_version("shared", "1").status == "READY"
    for write in (
        lambda: client.transition_model_version_stage("shared", "1", "Production"),
        lambda: client.set_registered_model_alias("shared", "champion", "1"),
        lambda: client.set_registered_model_tag("shared", "k", "v"),
        lambda: client.update_registered_model("shared", description="x"),
        lambda: client.delete_registered_model("shared"),
    ):
        with pytest.raises(MlflowException) as exc:
            write()
        assert exc.value.error_code == "PERMISSION_DENIED"

    mlflow_env(issue(outsider, other_tenant), tenant="globex")
    client = MlflowClient()
    with pytest.raises(MlflowException) as exc:
        client.get_registered_model("shared")
    assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert client.search_registered_models() == []
    with pytest.raises(MlflowException) as exc:
        mlflow.pyfunc.load_model("models:/shared/1")
    assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"
