"""Writes for experiment tracking."""

from __future__ import annotations

import time

from django.db import transaction

from registry import audit
from tenants.models import Tenant

DEFAULT_EXPERIMENT_NAME = "Default"


def now_ms() -> int:
    return int(time.time() * 1000)


def experiment_artifact_location(number: int) -> str:
    # Host-less `mlflow-artifacts:/` so the client resolves it against the prefixed tracking URI.
    return f"mlflow-artifacts:/{number}"


def experiment_create_default(*, tenant: Tenant):
    """Experiment "0", named Default, exists in every tenant (the MLflow client uses it without a lookup)."""
    from .models import Experiment

    assert transaction.get_connection().in_atomic_block
    ts = now_ms()
    experiment, created = Experiment.objects.get_or_create(
        tenant=tenant,
        number=0,
        defaults={
            "name": DEFAULT_EXPERIMENT_NAME,
            "artifact_location": experiment_artifact_location(0),
            "creation_time": ts,
            "last_update_time": ts,
        },
    )
    if created:
        audit.record(tenant=tenant, actor=None, action="experiment.created", obj=experiment,
                     after={"experiment_id": "0", "name": DEFAULT_EXPERIMENT_NAME})
    return experiment
