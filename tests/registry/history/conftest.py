"""Fixtures of the history tests: a model built through the services at known audit times, a source run with
params, metrics, tags, datasets and a parent run, and a clean Redis for usage counters."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from unittest import mock

import pytest

from registry import services, usage
from registry.models import ModelVersion
from registry.tracking.models import (
    DATASET_CONTEXT_TAG,
    ArtifactEntry,
    Blob,
    Dataset,
    Experiment,
    LatestMetric,
    Param,
    Run,
    RunInput,
    RunInputTag,
    RunTag,
)
from tests.helpers import client_for, issue, principal

ALL_SCOPES = ["read", "write", "promote", "admin"]
BASE = "/t/acme/api/v1"
MODEL_FILES = {"MLmodel": b"flavors: {}\n", "model.pkl": b"\x80\x04weights", "requirements.txt": b"numpy\n"}


@contextmanager
def audit_time(moment: dt.datetime) -> Iterator[None]:
    """Audit events recorded inside get exactly `moment` as created_at (only the audit module's clock moves)."""
    with mock.patch("registry.audit.chain.timezone", SimpleNamespace(now=lambda: moment)):
        yield


def put_file(tenant, path: str, content: bytes) -> None:
    digest = hashlib.sha256(content).hexdigest()
    blob, _ = Blob.objects.get_or_create(tenant=tenant, sha256=digest, defaults={"size": len(content)})
    ArtifactEntry.objects.create(tenant=tenant, path=path, blob=blob, sha256=digest, size=len(content))


def make_run(tenant, *, name: str = "train", files: dict[str, bytes] | None = None, experiment=None) -> Run:
    """A finished run in its own experiment, with files under `model/` (rows only)."""
    now = int(time.time() * 1000)
    if experiment is None:
        number = (
            Experiment.objects.filter(tenant=tenant)
            .order_by("-number")
            .values_list("number", flat=True)
            .first()
            or 0
        ) + 1
        experiment = Experiment.objects.create(
            tenant=tenant,
            number=number,
            name=f"exp-{number}",
            artifact_location=f"mlflow-artifacts:/{number}",
            creation_time=now,
            last_update_time=now,
        )
    run_id = uuid.uuid4().hex
    run = Run.objects.create(
        run_id=run_id,
        tenant=tenant,
        experiment=experiment,
        name=name,
        user_label="olivia",
        status="FINISHED",
        start_time=now - 60_000,
        end_time=now,
        artifact_uri=f"mlflow-artifacts:/{experiment.number}/{run_id}/artifacts",
    )
    for rel, content in (files if files is not None else MODEL_FILES).items():
        put_file(tenant, f"{experiment.number}/{run_id}/artifacts/model/{rel}", content)
    return run


def make_training_run(tenant) -> Run:
    """A run with everything provenance reports: params (data version), metrics, git tags, a dataset, a parent."""
    parent = make_run(tenant, name="sweep", files={})
    run = make_run(tenant, experiment=parent.experiment)
    Param.objects.bulk_create(
        [
            Param(run=run, key="data_version", value="2026-11-30"),
            Param(run=run, key="learning_rate", value="0.01"),
        ]
    )
    LatestMetric.objects.bulk_create(
        [
            LatestMetric(run=run, key="auc", value=0.93, timestamp=1, step=3),
            LatestMetric(run=run, key="loss", value=0.21, timestamp=1, step=3),
        ]
    )
    RunTag.objects.bulk_create(
        [
            RunTag(run=run, key="mlflow.source.git.commit", value="a1b2c3d4"),
            RunTag(run=run, key="mlflow.source.name", value="train.py"),
            RunTag(run=run, key="mlflow.parentRunId", value=parent.run_id),
        ]
    )
    dataset = Dataset.objects.create(
        tenant=tenant,
        experiment=run.experiment,
        name="customers",
        digest="d1g3st",
        source_type="s3",
        source='{"uri": "s3://data/customers.parquet"}',
    )
    run_input = RunInput.objects.create(run=run, dataset=dataset)
    RunInputTag.objects.create(run_input=run_input, key=DATASET_CONTEXT_TAG, value="training")
    return run


def ready_version(p, model, run: Run) -> ModelVersion:
    """Create a version from `runs:/<run>/model` and finish its registration as the worker would."""
    version = services.model_version_create(principal=p, model=model, source=f"runs:/{run.run_id}/model")
    services.registration_finalize(version_id=version.pk)
    version.refresh_from_db()
    return version


@pytest.fixture
def p_owner(owner, tenant):
    return principal(owner, tenant, ALL_SCOPES)


@pytest.fixture
def owner_api(owner, tenant):
    return client_for(issue(owner, tenant, ALL_SCOPES))


@pytest.fixture
def redis_usage() -> Iterator[None]:
    """A fresh usage client on the test Redis, with no counters left from other tests (before and after)."""

    def clear() -> None:
        client = usage.client()
        keys = list(client.scan_iter(match=f"{usage._prefix()}*"))
        if keys:
            client.delete(*keys)

    usage.connect()
    clear()
    yield
    usage.connect()
    clear()
