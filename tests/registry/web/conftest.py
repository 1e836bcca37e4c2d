"""Fixtures of the web view tests: a tenant `acme` with model `churn` (owned by team alpha: v1 Production with
@champion, v2 Staging, v3 None; tag domain=crm) registered from a run of experiment `churn-training` that logged
params, a metric history and real artifact bytes; a second run to compare; signed-in browsers (Django's test
client) per person. Everything is built through the services, as a user would through the API."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client

from accounts.models import SCOPES
from registry import artifacts as storage
from registry import services as registry_services
from registry.artifacts import services as artifact_services
from registry.mlflow_api import payloads
from registry.models import RegisteredModel, VersionStatus
from registry.tracking import services as tracking_services
from registry.tracking.models import Experiment, Run
from tenants.access import Principal
from tenants.models import Membership, TeamMembership

MODEL_FILES = {"model/MLmodel": b"flavors:\n  python_function: {}\n", "model/model.pkl": b"\x80\x04weights"}


def principal_of(user, tenant) -> Principal:
    """What a full-scope token of `user` would get in `tenant` (to build state through the services)."""
    return Principal(
        user=user,
        tenant=tenant,
        role=Membership.objects.get(tenant=tenant, user=user).role,
        scopes=frozenset(SCOPES),
        team_ids=frozenset(
            TeamMembership.objects.filter(user=user, team__tenant=tenant).values_list("team_id", flat=True)
        ),
    )


def log_run(
    principal: Principal,
    experiment: Experiment,
    *,
    name: str,
    params: dict[str, str],
    history: dict[str, list[float]],
    files: dict[str, bytes] | None = None,
) -> Run:
    """A finished run with params, one value per step for each metric, and artifact files (stored for real)."""
    run = tracking_services.run_create(principal=principal, experiment=experiment, run_name=name)
    metrics = [
        {"key": key, "value": value, "step": step, "timestamp": 1_700_000_000_000 + step}
        for key, values in history.items()
        for step, value in enumerate(values)
    ]
    points, clean_params, tags = payloads.parse_batch(
        metrics, [{"key": k, "value": v} for k, v in params.items()], []
    )
    tracking_services.run_log_batch(
        principal=principal, run=run, metrics=points, params=clean_params, tags=tags
    )
    root = f"{experiment.number}/{run.run_id}/artifacts"
    for path, content in (files or {}).items():
        stored = storage.store_bytes(tenant=principal.tenant, data=content)
        artifact_services.artifact_record(
            principal=principal, path=f"{root}/{path}", sha256=stored.sha256, size=stored.size
        )
    return run


@dataclass
class Churn:
    model: RegisteredModel
    experiment: Experiment
    run: Run
    other_run: Run


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_churn(owner, tenant) -> Churn:
    principal = principal_of(owner, tenant)
    experiment = tracking_services.experiment_create(principal=principal, name="churn-training")
    run = log_run(
        principal,
        experiment,
        name="baseline",
        params={"lr": "0.1", "depth": "4"},
        history={"auc": [0.61, 0.72, 0.80], "loss": [0.9, 0.5, 0.3]},
        files=MODEL_FILES,
    )
    other_run = log_run(
        principal,
        experiment,
        name="deeper",
        params={"lr": "0.1", "depth": "8"},
        history={"auc": [0.58, 0.70, 0.84]},
    )
    model = registry_services.registered_model_create(
        principal=principal, name="churn", description="Predicts churn", tags={"domain": "crm"}
    )
    versions = []
    for _ in range(3):
        version = registry_services.model_version_create(
            principal=principal, model=model, source=f"runs:/{run.run_id}/model", run_id=run.run_id
        )
        assert registry_services.registration_finalize(version_id=version.pk) == VersionStatus.READY
        versions.append(version)
    registry_services.model_version_transition_stage(
        principal=principal, version=versions[0], stage="Production"
    )
    registry_services.model_version_transition_stage(
        principal=principal, version=versions[1], stage="Staging"
    )
    registry_services.alias_set(principal=principal, model=model, alias="champion", version=1)
    return Churn(model=model, experiment=experiment, run=run, other_run=other_run)


@pytest.fixture
def churn(owner, tenant) -> Churn:
    return make_churn(owner, tenant)


@pytest.fixture
def browser_for():
    """`browser_for(user)` → a Django test client signed in as `user` (the browser tests cover CSRF for real)."""

    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


# --- browser tests -------------------------------------------------------------------------------------------------


@pytest.fixture
def page(browser_context):
    """A page in a fresh browser context on the live server (tests/conftest.py `browser_context`)."""
    return browser_context().new_page()
