"""Stage transitions: None, Staging, Production, Archived, under the model row lock."""

from __future__ import annotations

import logging

from django.db import transaction

from config.common import now_ms
from config.errors import Conflict, InvalidParameter
from registry.models import (
    ModelVersion,
    Stage,
    VersionStatus,
)
from registry.permissions import require
from registry.validation import (
    canonical_stage,
)
from tenants.access import Principal

from ._common import (
    emit_model_event,
    lock_version,
    touch,
)

logger = logging.getLogger(__name__)


def stage_level(from_stage: str, to_stage: str) -> str:
    """Production, to or from, needs manage_production; moves among None, Staging and Archived manage_staging."""
    return "manage_production" if Stage.PRODUCTION in (from_stage, to_stage) else "manage_staging"


@transaction.atomic(durable=True)
def model_version_transition_stage(
    *,
    principal: Principal,
    version: ModelVersion,
    stage: str,
    archive_existing_versions: bool = False,
    expected_stage: str | None = None,
    expected_last_updated_timestamp: int | None = None,
    comment: str = "",
) -> ModelVersion:
    """Move a version to `stage`. Preconditions, compared under the model's row lock: `expected_stage` (the stage it
    must be in now) and `expected_last_updated_timestamp` (it must not have changed since it was read; the native
    API's full ETag); stale → 409 CONFLICT."""
    stage = canonical_stage(stage)
    expected = canonical_stage(expected_stage) if expected_stage not in (None, "") else None
    # The model row lock serialises every stage change of this model, so "archive the others" sees every version
    # that is in the target stage and no concurrent promotion can slip a second Production in.
    model, version = lock_version(principal, version)
    require(principal, model, stage_level(version.stage, stage), action=f"move the version to {stage}")
    if archive_existing_versions and stage not in (Stage.STAGING, Stage.PRODUCTION):
        raise InvalidParameter(
            f"Model version transition cannot archive existing model versions because "
            f"'{stage}' is not an Active stage. Valid stages are Staging and Production."
        )
    if expected is not None and version.stage != expected:
        raise Conflict(
            f"Model Version (name={model.name}, version={version.version}) is in stage "
            f"'{version.stage}', not the expected '{expected}'.",
            details={"current_stage": version.stage},
        )
    if (
        expected_last_updated_timestamp is not None
        and version.last_updated_timestamp != expected_last_updated_timestamp
    ):
        raise Conflict(
            f"Version {version.version} of '{model.name}' changed since it was read.",
            details={
                "current_stage": version.stage,
                "last_updated_timestamp": version.last_updated_timestamp,
            },
        )
    if version.status != VersionStatus.READY:
        raise Conflict(
            f"Model Version (name={model.name}, version={version.version}) is {version.status}: "
            f"only READY versions can change stage."
        )
    ts = now_ms()
    archived: list[ModelVersion] = []
    if archive_existing_versions:
        others = (
            ModelVersion.objects.select_for_update().filter(model=model, stage=stage).exclude(pk=version.pk)
        )
        for other in others.order_by("version"):
            other.stage = Stage.ARCHIVED
            other.last_updated_timestamp = ts
            other.save(update_fields=["stage", "last_updated_timestamp"])
            archived.append(other)
    before = version.stage
    version.stage = stage
    version.last_updated_timestamp = ts
    version.save(update_fields=["stage", "last_updated_timestamp"])
    touch(model, ts)
    for other in archived:
        emit_model_event(
            principal,
            action="model_version.stage_changed",
            obj=other,
            model=model,
            version=other.version,
            before={"stage": stage},
            after={"stage": Stage.ARCHIVED, "archived_by": {"version": version.version, "stage": stage}},
        )
    emit_model_event(
        principal,
        action="model_version.stage_changed",
        obj=version,
        model=model,
        version=version.version,
        before={"stage": before},
        after={
            "stage": stage,
            "archive_existing_versions": bool(archive_existing_versions),
            "archived_versions": [o.version for o in archived],
            "comment": comment or "",
        },
    )
    return version
