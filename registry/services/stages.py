"""Stage transitions: None, Staging, Production, Archived, under the model row lock.

A transition passes the model's standing policy for the target stage (`TransitionPolicy`: approval required,
standing gate) and any gate given with it, all evaluated in the same locked transaction as the move. A failed gate
changes nothing about stages but is recorded: the durable transaction emits `gate.failed`, commits, and returns a
`GateFailure`; the public wrapper raises the 409 after the commit."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, cast

from django.db import transaction

from config.common import now_ms
from config.errors import Conflict, InvalidParameter, PermissionDenied
from registry import events
from registry.models import (
    ModelVersion,
    RegisteredModel,
    Stage,
    VersionStatus,
)
from registry.permissions import require
from registry.validation import (
    canonical_stage,
)
from tenants.access import Principal

from . import gates
from ._common import (
    actor_user,
    lock_version,
    touch,
)
from .policies import policy_for

logger = logging.getLogger(__name__)


def stage_level(from_stage: str, to_stage: str) -> str:
    """Production, to or from, needs manage_production; moves among None, Staging and Archived manage_staging."""
    return "manage_production" if Stage.PRODUCTION in (from_stage, to_stage) else "manage_staging"


@dataclass(frozen=True)
class GateFailure:
    """What a durable transaction returns when a gate refused the promotion (after recording `gate.failed`)."""

    model: str
    version: int
    stage: str
    result: dict[str, Any]

    def error(self) -> Conflict:
        return Conflict(
            f"Gate failed: version {self.version} of '{self.model}' was not moved to {self.stage}: "
            f"{self.result.get('reason')}.",
            details={"gate": self.result},
        )


def check_archive(stage: str, archive_existing_versions: bool) -> None:
    if archive_existing_versions and stage not in (Stage.STAGING, Stage.PRODUCTION):
        raise InvalidParameter(
            f"Model version transition cannot archive existing model versions because "
            f"'{stage}' is not an Active stage. Valid stages are Staging and Production."
        )


def promote_locked(
    *,
    actor: Any,
    model: RegisteredModel,
    version: ModelVersion,
    stage: str,
    archive_existing_versions: bool,
    comment: str,
    gate: Any = None,
    request_id: int | None = None,
    approvers: list[str] | None = None,
) -> tuple[bool, dict[str, Any] | None]:
    """Evaluate the policy gate and `gate`, then move `version` to `stage`. The caller holds the model and version
    row locks (the model lock serialises every stage change of the model, so Production, the aliases and "archive
    the others" cannot move under us) and has checked permissions and status.

    Returns `(moved, gate_result)`. On a failed gate nothing about stages changes; `gate.failed` is emitted (who,
    what, why, the numbers compared) and the caller lets the transaction commit so that record survives."""
    tenant = model.tenant
    policy = policy_for(model, stage)
    policy_gate = policy.gate if policy is not None else None
    conds = gates.conditions(policy_gate)
    sources = ["policy"] * len(conds)
    request_conds = gates.conditions(gate)
    conds += request_conds
    sources += ["request" if request_id is not None else "transition"] * len(request_conds)
    result = gates.evaluate(model=model, candidate=version, gates=conds, sources=sources)
    if result is not None and not result["passed"]:
        events.emit(
            tenant=tenant,
            actor=actor,
            action="gate.failed",
            obj=version,
            model_id=model.pk,
            version=version.version,
            before={"stage": version.stage},
            after={
                "stage": stage,
                "requested_stage": stage,
                "request_id": request_id,
                "approvers": approvers or [],
                "gate": result,
                "reason": result["reason"],
            },
        )
        return False, result
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
        events.emit(
            tenant=tenant,
            actor=actor,
            action="model_version.stage_changed",
            obj=other,
            model_id=model.pk,
            version=other.version,
            before={"stage": stage},
            after={
                "stage": Stage.ARCHIVED,
                "archived_by": {"version": version.version, "stage": stage},
                "request_id": request_id,
            },
        )
    events.emit(
        tenant=tenant,
        actor=actor,
        action="model_version.stage_changed",
        obj=version,
        model_id=model.pk,
        version=version.version,
        before={"stage": before},
        after={
            "stage": stage,
            "archive_existing_versions": bool(archive_existing_versions),
            "archived_versions": [o.version for o in archived],
            "comment": comment or "",
            "request_id": request_id,
            "approvers": approvers or [],
            "gate": result,
        },
    )
    return True, result


def approval_required_message(principal: Principal, model: RegisteredModel, stage: str) -> str:
    return (
        f"Permission denied: moving versions of '{model.name}' to {stage} requires an approved transition "
        f"request. Request it with POST /t/{principal.tenant.slug}/api/v1/transition-requests "
        f'(body {{"model", "version", "stage", "comment"}}); only tenant admins may move it directly.'
    )


@transaction.atomic(durable=True)
def _transition_stage(
    *,
    principal: Principal,
    version: ModelVersion,
    stage: str,
    archive_existing_versions: bool,
    expected_stage: str | None,
    expected_last_updated_timestamp: int | None,
    comment: str,
    gate: Any,
) -> ModelVersion | GateFailure:
    # The model row lock serialises every stage change of this model, so "archive the others" sees every version
    # that is in the target stage and no concurrent promotion can slip a second Production in.
    model, version = lock_version(principal, version)
    require(principal, model, stage_level(version.stage, stage), action=f"move the version to {stage}")
    policy = policy_for(model, stage)
    if policy is not None and policy.requires_approval and not principal.is_tenant_admin:
        raise PermissionDenied(approval_required_message(principal, model, stage))
    check_archive(stage, archive_existing_versions)
    if expected_stage is not None and version.stage != expected_stage:
        raise Conflict(
            f"Model Version (name={model.name}, version={version.version}) is in stage "
            f"'{version.stage}', not the expected '{expected_stage}'.",
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
    moved, result = promote_locked(
        actor=actor_user(principal),
        model=model,
        version=version,
        stage=stage,
        archive_existing_versions=archive_existing_versions,
        comment=comment,
        gate=gate,
    )
    if not moved:
        result = cast(dict[str, Any], result)  # a refused promotion always carries its gate result
        # Returned, not raised: raising would roll back the `gate.failed` record with the promotion.
        return GateFailure(model=model.name, version=version.version, stage=stage, result=result)
    return version


def model_version_transition_stage(
    *,
    principal: Principal,
    version: ModelVersion,
    stage: str,
    archive_existing_versions: bool = False,
    expected_stage: str | None = None,
    expected_last_updated_timestamp: int | None = None,
    comment: str = "",
    gate: Any = None,
) -> ModelVersion:
    """Move a version to `stage`. Preconditions, compared under the model's row lock: `expected_stage` (the stage it
    must be in now) and `expected_last_updated_timestamp` (it must not have changed since it was read; the native
    API's full ETag); stale → 409 CONFLICT. Where the model's policy requires approval for `stage`, only tenant
    admins may move it directly (403 otherwise). The policy's gate and `gate` must pass, else 409 CONFLICT with the
    gate result in `details` (and a committed `gate.failed` audit event)."""
    stage = canonical_stage(stage)
    expected = canonical_stage(expected_stage) if expected_stage not in (None, "") else None
    clean_gate = gates.validate_gate(gate)
    outcome = _transition_stage(
        principal=principal,
        version=version,
        stage=stage,
        archive_existing_versions=archive_existing_versions,
        expected_stage=expected,
        expected_last_updated_timestamp=expected_last_updated_timestamp,
        comment=comment,
        gate=clean_gate,
    )
    if isinstance(outcome, GateFailure):
        raise outcome.error()  # after the commit of `gate.failed`
    return outcome
