"""The MLflow client's register-and-promote workflow with artifacts on S3 (moto on loopback): the live server and a
Celery worker both configured for S3, `log_model(..., registered_model_name=…)`, promotion and alias, loading by
alias and stage, `mlflow models serve` of the champion; the bytes are in the bucket, not on disk, and they verify."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from registry.models import ModelVersionFile
from registry.tracking.models import Blob
from tests.helpers import issue, mlflow_serve_predict

pytestmark = [
    pytest.mark.mlflow_client,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore:.*Model registry stages will be removed:FutureWarning"),
]


def test_the_mlflow_client_registers_promotes_and_loads_a_model_stored_on_s3(
    mlflow_env, s3_backend, s3_worker, owner, tenant, tmp_path
):
    import mlflow
    import numpy as np
    from mlflow import MlflowClient
    from sklearn.linear_model import LogisticRegression

    mlflow_env(issue(owner, tenant, ["read", "write", "promote"]))
    mlflow.set_experiment("s3-training")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    y = (X[:, 0] > 0).astype(int)
    clf = LogisticRegression().fit(X, y)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            clf, name="model", registered_model_name="churn-s3", serialization_format="cloudpickle"
        )
    assert str(info.registered_model_version) == "1"

    client = MlflowClient()
    assert client.get_model_version("churn-s3", "1").status == "READY"
    client.transition_model_version_stage("churn-s3", "1", "Production")
    client.set_registered_model_alias("churn-s3", "champion", "1")
    expected = clf.predict(X[:10])
    assert np.array_equal(mlflow.pyfunc.load_model("models:/churn-s3@champion").predict(X[:10]), expected)
    assert np.array_equal(mlflow.pyfunc.load_model("models:/churn-s3/Production").predict(X[:10]), expected)

    # `mlflow models serve` fetches the champion from S3 through the server and scores over HTTP.
    assert mlflow_serve_predict("models:/churn-s3@champion", X[:10].tolist(), tmp_path) == expected.tolist()

    # The registration ran on the S3 worker, and every blob is in the bucket, none on the local disk.
    assert "modelgate.register_model_version" in s3_worker.logs()
    keys = {b.storage_key for b in Blob.objects.for_tenant(tenant)}
    assert set(
        ModelVersionFile.objects.filter(version__model__name="churn-s3").values_list("sha256", flat=True)
    )
    assert keys and keys <= s3_backend.blob_keys()
    assert not [k for k in keys if (Path(settings.ARTIFACT_ROOT) / k).exists()]
    out = io.StringIO()
    call_command("verify_artifacts", "acme", "churn-s3", stdout=out)
    assert "are intact" in out.getvalue()
