"""Per-model transition policies: for one model and target stage, whether moving a version there needs an
approved transition request, how many distinct approvals, and a standing gate. Changing them is a `manage`
action on the model."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from config.errors import InvalidParameter, NotFound
from registry.models import RegisteredModel, TransitionPolicy
from registry.permissions import require
from registry.validation import canonical_stage
from tenants.access import Principal

from . import gates
from ._common import actor_user, emit_model_event, lock_model

MAX_APPROVALS = 20


def policy_for(model: RegisteredModel, stage: str) -> TransitionPolicy | None:
    """The model's policy for entering `stage`, if any (callers that decide on it hold the model row lock)."""
    return TransitionPolicy.objects.filter(model=model, stage=stage).first()


def policy_snapshot(policy: TransitionPolicy | None) -> dict[str, Any] | None:
    if policy is None:
        return None
    return {
        "stage": policy.stage,
        "requires_approval": policy.requires_approval,
        "approvals_required": policy.approvals_required,
        "gate": policy.gate,
    }


@transaction.atomic(durable=True)
def transition_policy_set(
    *,
    principal: Principal,
    model: RegisteredModel,
    stage: str,
    requires_approval: bool = True,
    approvals_required: int = 1,
    gate: Any = None,
) -> TransitionPolicy:
    """Create or replace the model's policy for `stage`. Open requests keep the approval count they were made with."""
    stage = canonical_stage(stage)
    if isinstance(requires_approval, bool) is False:
        raise InvalidParameter("'requires_approval' must be true or false.")
    if (
        isinstance(approvals_required, bool)
        or not isinstance(approvals_required, int)
        or not 1 <= approvals_required <= MAX_APPROVALS
    ):
        raise InvalidParameter(f"'approvals_required' must be an integer from 1 to {MAX_APPROVALS}.")
    clean_gate = gates.validate_gate(gate)
    model = lock_model(principal, model)
    require(principal, model, "manage", action=f"set the {stage} transition policy")
    policy = policy_for(model, stage)
    before = policy_snapshot(policy)
    now = timezone.now()
    if policy is None:
        policy = TransitionPolicy(model=model, stage=stage)
    policy.requires_approval = requires_approval
    policy.approvals_required = approvals_required
    policy.gate = clean_gate
    policy.updated_by = actor_user(principal)
    policy.updated_at = now
    if policy.pk is None:
        policy.save()
    else:
        policy.save(
            update_fields=["requires_approval", "approvals_required", "gate", "updated_by", "updated_at"]
        )
    emit_model_event(
        principal,
        action="transition_policy.set",
        obj=policy,
        model=model,
        before=before,
        after=policy_snapshot(policy),
    )
    return policy


@transaction.atomic(durable=True)
def transition_policy_delete(*, principal: Principal, model: RegisteredModel, stage: str) -> None:
    stage = canonical_stage(stage)
    model = lock_model(principal, model)
    require(principal, model, "manage", action=f"delete the {stage} transition policy")
    policy = policy_for(model, stage)
    if policy is None:
        raise NotFound(f"Registered model '{model.name}' has no transition policy for {stage}.")
    before = policy_snapshot(policy)
    emit_model_event(
        principal, action="transition_policy.deleted", obj=policy, model=model, before=before, after=None
    )
    policy.delete()
