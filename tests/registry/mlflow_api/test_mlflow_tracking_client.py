"""The official MLflow client (mlflow-skinny 3.17.2) against a live Modelgate: logging, nested runs, metric history,
search with filters, order_by and pagination, artifacts, `log_model` of a scikit-learn model, an MLflow Project run,
the X-MLFLOW-WORKSPACE route, isolation and a viewer's refusal.

Few, combined tests: each one drives a real client against a real server thread (seconds on a small machine)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.helpers import issue

pytestmark = [pytest.mark.mlflow_client, pytest.mark.django_db(transaction=True)]


def test_the_mlflow_client_logs_searches_and_stores_artifacts(mlflow_env, owner, tenant, tmp_path):
    import mlflow
    import numpy as np
    from mlflow import MlflowClient
    from sklearn.linear_model import LogisticRegression

    mlflow_env(issue(owner, tenant))
    experiment = mlflow.set_experiment("client-exp")
    assert experiment.experiment_id == "1"
    assert mlflow.set_experiment("client-exp").experiment_id == "1"  # found by name the second time

    with mlflow.start_run(run_name="parent") as parent:
        mlflow.log_param("alpha", 0.5)
        mlflow.log_params({"p1": 1, "p2": "x"})
        mlflow.set_tag("team", "a")
        mlflow.set_tags({"stage": "dev"})
        for step, auc in enumerate([0.7, 0.8, 0.91]):
            mlflow.log_metric("auc", auc, step=step)
        mlflow.log_metrics({"m1": 1.0, "m2": float("nan")})
        with mlflow.start_run(run_name="child", nested=True) as child:
            mlflow.log_metric("loss", 0.3)

        (tmp_path / "notes.txt").write_text("hello artifacts")
        (tmp_path / "d").mkdir()
        (tmp_path / "d" / "a.json").write_text('{"a": 1}')
        mlflow.log_artifact(str(tmp_path / "notes.txt"))
        mlflow.log_artifacts(str(tmp_path / "d"), artifact_path="data")

        X = np.array([[0.0], [1.0], [2.0], [3.0]])
        clf = LogisticRegression().fit(X, np.array([0, 0, 1, 1]))
        model_info = mlflow.sklearn.log_model(
            clf, name="model", input_example=X[:2], serialization_format="cloudpickle"
        )

    client = MlflowClient()
    run = client.get_run(parent.info.run_id)
    assert run.info.status == "FINISHED" and run.info.user_id == "olivia"
    assert run.data.params == {"alpha": "0.5", "p1": "1", "p2": "x"}
    assert run.data.metrics["auc"] == 0.91
    assert run.data.tags["team"] == "a" and run.data.tags["mlflow.user"] == "olivia"
    assert [m.value for m in client.get_metric_history(parent.info.run_id, "auc")] == [0.7, 0.8, 0.91]

    nested = mlflow.search_runs(
        experiment_ids=["1"],
        output_format="list",
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    )
    assert [r.info.run_id for r in nested] == [child.info.run_id]
    found = client.search_runs(
        ["1"], filter_string="metrics.auc > 0.9 and params.alpha = '0.5'", order_by=["metrics.auc DESC"]
    )
    assert [r.info.run_id for r in found] == [parent.info.run_id]
    ordered = client.search_runs(["1"], order_by=["attributes.run_name ASC"])
    assert [r.info.run_name for r in ordered] == ["child", "parent"]

    top = {f.path: f for f in client.list_artifacts(parent.info.run_id)}
    assert set(top) == {"notes.txt", "data"} and top["data"].is_dir and top["notes.txt"].file_size == 15
    assert [f.path for f in client.list_artifacts(parent.info.run_id, "data")] == ["data/a.json"]
    local = client.download_artifacts(parent.info.run_id, "notes.txt", str(tmp_path / "dl"))
    assert open(local).read() == "hello artifacts"
    local_dir = mlflow.artifacts.download_artifacts(
        run_id=parent.info.run_id, artifact_path="data", dst_path=str(tmp_path / "dl2")
    )
    assert open(os.path.join(local_dir, "a.json")).read() == '{"a": 1}'

    logged = client.get_logged_model(model_info.model_id)
    assert str(logged.status).endswith("READY")
    assert logged.source_run_id == parent.info.run_id
    loaded = mlflow.pyfunc.load_model(model_info.model_uri)
    assert list(loaded.predict(X)) == [0, 0, 1, 1]

    # More runs than a page: MlflowClient follows page tokens.
    for i in range(25):
        client.create_run("1", run_name=f"bulk-{i}")
    seen, token = [], None
    while True:
        page = client.search_runs(
            ["1"], filter_string="attributes.run_name LIKE 'bulk-%'", max_results=10, page_token=token
        )
        seen += [r.info.run_id for r in page]
        token = page.token
        if not token:
            break
    assert len(seen) == 25 and len(set(seen)) == 25


def test_the_workspace_header_route_isolation_and_viewer_refusal(
    mlflow_env, owner, tenant, viewer, outsider, other_tenant
):
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    mlflow_env(issue(owner, tenant), tenant=None, workspace="acme")
    exp_id = mlflow.set_experiment("via-header").experiment_id
    with mlflow.start_run() as run:
        mlflow.log_metric("x", 1.0)
    mlflow_env(issue(owner, tenant))  # the same data through the prefixed route
    assert MlflowClient().get_run(run.info.run_id).data.metrics == {"x": 1.0}

    mlflow_env(issue(outsider, other_tenant), tenant=None, workspace="acme")
    with pytest.raises(MlflowException) as exc:
        MlflowClient().get_run(run.info.run_id)
    assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    mlflow_env(issue(outsider, other_tenant), tenant="globex")
    client = MlflowClient()
    assert client.get_experiment_by_name("via-header") is None
    with pytest.raises(MlflowException) as exc:
        client.get_run(run.info.run_id)
    assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert client.search_runs([exp_id]) == []
    with pytest.raises(MlflowException):
        client.list_artifacts(run.info.run_id)

    mlflow_env(issue(viewer, tenant))
    client = MlflowClient()
    assert client.get_run(run.info.run_id).info.run_id == run.info.run_id
    with pytest.raises(MlflowException) as exc:
        client.log_metric(run.info.run_id, "x", 2.0)
    assert exc.value.error_code == "PERMISSION_DENIED"


def test_an_mlflow_project_logs_its_run_into_modelgate(mlflow_env, owner, tenant, tmp_path):
    from registry.tracking.models import Run

    uri = mlflow_env(issue(owner, tenant))
    project = tmp_path / "project"
    project.mkdir()
    (project / "MLproject").write_text(
        textwrap.dedent("""\
        name: tiny
        entry_points:
          main:
            parameters:
              alpha: {type: float, default: 0.25}
            command: "python train.py {alpha}"
    """)
    )
    (project / "train.py").write_text(
        textwrap.dedent("""\
        import sys
        import mlflow

        alpha = float(sys.argv[1])
        mlflow.log_param("alpha_seen", alpha)
        mlflow.log_metric("score", alpha * 2)
    """)
    )
    env = dict(os.environ)
    bin_dir = os.path.dirname(sys.executable)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")  # `python` and `mlflow` of this venv
    env["MLFLOW_TRACKING_URI"] = uri
    result = subprocess.run(
        [
            os.path.join(bin_dir, "mlflow"),
            "run",
            str(project),
            "--env-manager",
            "local",
            "-P",
            "alpha=0.5",
            "--experiment-name",
            "projects",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    run = Run.objects.get(tenant=tenant, experiment__name="projects")
    assert run.status == "FINISHED"
    assert dict(run.params.values_list("key", "value"))["alpha_seen"] == "0.5"
    assert run.latest_metrics.get(key="score").value == 1.0
    assert run.user_label == "olivia"
