"""Fixtures shared by the registry tests (tests/registry/ and its folders): the MLflow client pointed at the live
server, and a clean slate of audit checkpoints in artifact storage for each test (tenant ids can repeat between
tests, and a checkpoint left by an earlier test would be compared with this test's chain)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings


@pytest.fixture
def mlflow_env(monkeypatch, live_server):
    """Point the official MLflow client at the live server; return `use(token, tenant="acme", workspace=None)`,
    which switches token, tenant or route (tenant=None and a workspace: the X-MLFLOW-WORKSPACE route) and returns
    the tracking URI."""
    import mlflow
    from mlflow.tracking import fluent

    def use(token: str, *, tenant: str | None = "acme", workspace: str | None = None) -> str:
        uri = f"{live_server.url}/t/{tenant}" if tenant else live_server.url
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
        if workspace:
            monkeypatch.setenv("MLFLOW_WORKSPACE", workspace)
        else:
            monkeypatch.delenv("MLFLOW_WORKSPACE", raising=False)
        mlflow.set_tracking_uri(uri)
        fluent._active_experiment_id = None
        return uri

    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    # A bug must fail the test now, not after minutes of retries.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    monkeypatch.delenv("MLFLOW_WORKSPACE", raising=False)
    yield use
    while mlflow.active_run():
        mlflow.end_run()
    fluent._active_experiment_id = None
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)  # set by mlflow.set_experiment itself
    mlflow.set_tracking_uri(None) if hasattr(mlflow, "set_tracking_uri") else None


@pytest.fixture(autouse=True)
def _no_stale_audit_checkpoints():
    root = Path(settings.ARTIFACT_ROOT) / "tenants"
    if root.is_dir():
        for audit_dir in root.glob("*/audit"):
            shutil.rmtree(audit_dir, ignore_errors=True)
    yield


@pytest.fixture(scope="session", autouse=True)
def _stop_version_ready_listener(django_db_setup):
    """Creating a version outside a transaction waits for the worker with a LISTEN connection of this process
    (`registry.readiness`); close it before the test database is dropped (set up after the database, so torn down
    before it)."""
    yield
    from registry import readiness

    readiness.stop_listener()
