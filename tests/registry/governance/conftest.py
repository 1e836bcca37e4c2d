"""Fixtures of the governance tests: model `churn` (owned by team alpha) with READY versions whose source runs
carry metrics and tags, approvers at each level, and API clients for everyone.

Versions are built through the services, with the worker's registration service run in-process (the tests that
cross the worker boundary say so and use the `worker` fixture)."""

from __future__ import annotations

import time

import pytest

from accounts import services as account_services
from registry import services
from registry.models import AuditEvent, ModelVersion, RegisteredModel, VersionStatus
from registry.tracking.models import LatestMetric, RunTag
from tests.helpers import client_for, issue, make_logged_model, make_run, principal

ALL_SCOPES = ["read", "write", "promote", "admin"]
BASE = "/t/acme/api/v1"


def add_version(p, model: RegisteredModel, tenant, *, metrics=None, run_tags=None) -> ModelVersion:
    """A READY version whose source run logged `metrics` (latest values) and `run_tags`."""
    run = make_run(tenant)
    now = int(time.time() * 1000)
    for key, value in (metrics or {}).items():
        LatestMetric.objects.create(run=run, key=key, value=value, timestamp=now, step=0)
    for key, value in (run_tags or {}).items():
        RunTag.objects.create(run=run, key=key, value=value)
    logged = make_logged_model(tenant, run=run)
    version = services.model_version_create(principal=p, model=model, source=f"models:/{logged.model_id}")
    assert services.registration_finalize(version_id=version.pk) == VersionStatus.READY
    version.refresh_from_db()
    return version


def stage_of(model: RegisteredModel, number: int) -> str:
    return ModelVersion.objects.get(model=model, version=number).stage


def events(action: str, model: RegisteredModel) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, model_id=model.pk).order_by("seq"))


@pytest.fixture
def p_owner(owner, tenant):
    return principal(owner, tenant, ALL_SCOPES)


@pytest.fixture
def model(p_owner):
    return services.registered_model_create(principal=p_owner, name="churn")


@pytest.fixture
def v1(p_owner, model, tenant):
    """Version 1, in Production, auc 0.80."""
    version = add_version(p_owner, model, tenant, metrics={"auc": 0.80})
    services.model_version_transition_stage(principal=p_owner, version=version, stage="Production")
    version.refresh_from_db()
    return version


@pytest.fixture
def v2(p_owner, model, tenant, v1):
    """Version 2, a candidate with auc 0.83 and a passed fairness audit on its run."""
    return add_version(p_owner, model, tenant, metrics={"auc": 0.83}, run_tags={"fairness_audit": "passed"})


@pytest.fixture
def people(tenant, model, p_owner):
    """Approvers by grant: `stella` manage_staging, `paul` and `petra` manage_production; `rita` only reads."""
    made = {
        name: account_services.user_create(username=name, tenant=tenant, role="member")
        for name in ("stella", "paul", "petra", "rita")
    }
    services.registered_model_set_grants(
        principal=p_owner,
        model=model,
        grants=[
            {"user": "stella", "level": "manage_staging"},
            {"user": "paul", "level": "manage_production"},
            {"user": "petra", "level": "manage_production"},
        ],
    )
    return made


@pytest.fixture
def clients(people, owner, viewer, teammate, tenant_admin, outsider, tenant, other_tenant):
    """API clients with every scope their role allows, by name; `oscar` is another tenant's admin."""
    users = {**people, "olivia": owner, "vera": viewer, "tom": teammate, "ada": tenant_admin}
    made = {name: client_for(issue(user, tenant)) for name, user in users.items()}
    made["oscar"] = client_for(issue(outsider, other_tenant))
    return made
