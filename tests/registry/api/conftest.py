"""Fixtures and helpers shared by the native registry API tests (test_native_*_api.py): an owner's client, a run,
and the model `churn` with three versions."""

from __future__ import annotations

import pytest

from registry import services as registry_services
from registry.models import ModelVersion, VersionStatus
from registry.tracking.models import Run
from tests.helpers import client_for, issue, principal_of
from tests.helpers import make_run_in_new_experiment as make_run

ALL_SCOPES = ["read", "write", "promote", "admin"]
BASE = "/t/acme/api/v1"


# --- helpers -------------------------------------------------------------------------------------------------------


def register_ready(client, name: str, run: Run, **extra) -> dict:
    """Create a version through the API, then run the worker's registration service synchronously."""
    res = client.post(
        f"{BASE}/models/{name}/versions/", {"source": f"runs:/{run.run_id}/model", **extra}, format="json"
    )
    assert res.status_code == 201, res.content
    version = ModelVersion.objects.get(
        model__name=name, model__tenant__slug="acme", version=res.json()["version"]
    )
    assert registry_services.registration_finalize(version_id=version.pk) == VersionStatus.READY
    return client.get(f"{BASE}/models/{name}/versions/{version.version}").json()


def error_code(res) -> str:
    return res.json().get("error_code")


# --- fixtures ------------------------------------------------------------------------------------------------------


@pytest.fixture
def owner_api(owner, tenant):
    return client_for(issue(owner, tenant, ALL_SCOPES))


@pytest.fixture
def run(tenant):
    return make_run(tenant)


@pytest.fixture
def churn(owner, tenant, run):
    """Model `churn` owned by team alpha: v1 Production with alias champion, v2 Staging, v3 None; tag `domain`.
    Built through the services (the HTTP paths are what the tests below exercise)."""
    make_churn(owner, tenant, run)
    return "churn"


def make_churn(user, tenant, run, name: str = "churn"):
    principal = principal_of(user, tenant)
    model = registry_services.registered_model_create(
        principal=principal, name=name, description="Churn", tags={"domain": "crm"}
    )
    versions = []
    for _ in range(3):
        version = registry_services.model_version_create(
            principal=principal, model=model, source=f"runs:/{run.run_id}/model"
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
    return model


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The shared fixtures give users passwords; PBKDF2 at full strength costs half a second per test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
