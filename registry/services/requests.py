"""Transition requests: ask for a stage, have it approved by others, and let a worker apply it.

Anyone who can read a model may request a stage for a READY version. Approvers need the stage's level
(`stage_level`: manage_production for anything touching Production, else manage_staging) and the `promote` scope;
the requester can never approve (or reject) their own request, only cancel it. Each approver counts once; when
the distinct approvals reach the number required (the model's policy for the stage when requested, else 1) the
request is `approved` and `modelgate.apply_transition_request` is published on commit. The worker applies it under
the model's row lock with a status guard (`approved` → `applied` | `failed`), so a duplicate delivery changes
nothing, and gates run in that same locked transaction.

Locking order, as everywhere: model row → version row → request row → the audit chain head (`events.emit`)."""

from __future__ import annotations

import logging
from typing import Any, cast

from django.db import transaction
from django.utils import timezone

from config.errors import Conflict, NotFound, PermissionDenied
from registry import events, publishing
from registry.models import (
    ModelVersion,
    RegisteredModel,
    TransitionRequest,
    TransitionRequestEvent,
    TransitionRequestStatus,
    VersionStatus,
)
from registry.permissions import require
from registry.validation import canonical_stage, parse_version_number
from tenants.access import Principal

from . import gates
from ._common import actor_label, actor_user, lock_model
from .policies import policy_for
from .stages import check_archive, promote_locked, stage_level

logger = logging.getLogger(__name__)

APPLY_TASK = "modelgate.apply_transition_request"
Status = TransitionRequestStatus
OPEN = (Status.PENDING, Status.APPROVED)  # the requester may still cancel


def enqueue_transition_request_apply(request_id: int) -> None:
    """Publish the apply task (by name: services never import tasks). A broker that is down leaves the request
    `approved`: `requeue_approved_transition_requests` (beat) publishes it again later."""
    publishing.publish(APPLY_TASK, [request_id])


def approvers_of(request: TransitionRequest) -> list[str]:
    return list(
        TransitionRequestEvent.objects.filter(request=request, kind="approved")
        .order_by("created_at", "pk")
        .values_list("actor_name", flat=True)
    )


def _history(
    request: TransitionRequest, kind: str, actor: Any, name: str, comment: str, **details: Any
) -> None:
    TransitionRequestEvent.objects.create(
        request=request,
        kind=kind,
        actor=actor,
        actor_name=name,
        comment=comment or "",
        details=details or None,
        created_at=timezone.now(),
    )


def _after(request: TransitionRequest, version: ModelVersion, **extra: Any) -> dict[str, Any]:
    """What provenance needs about a request, in every event about it."""
    return {
        "request_id": request.pk,
        "status": request.status,
        "stage": request.stage,
        "from_stage": request.from_stage,
        "version": version.version,
        "requester": request.requester_name,
        "approvals_required": request.approvals_required,
        **extra,
    }


def _emit(request: TransitionRequest, model: RegisteredModel, version: ModelVersion, **kwargs: Any) -> None:
    events.emit(tenant=model.tenant, obj=request, model_id=model.pk, version=version.version, **kwargs)


def _lock_request(
    principal: Principal, request: TransitionRequest
) -> tuple[RegisteredModel, ModelVersion, TransitionRequest]:
    """Lock the request's model, version and request rows, in that order, in the caller's tenant."""
    model = lock_model(principal, request.model)
    version = ModelVersion.objects.select_for_update().filter(pk=request.version_id, model=model).first()
    locked = (
        TransitionRequest.objects.for_tenant(principal.tenant)
        .select_for_update()
        .filter(pk=request.pk, model=model)
        .first()
    )
    if version is None or locked is None:
        raise NotFound(f"Transition request {request.pk} not found.")
    version.model = model
    return model, version, locked


@transaction.atomic(durable=True)
def transition_request_create(
    *,
    principal: Principal,
    model: RegisteredModel,
    version: Any,
    stage: str,
    archive_existing_versions: bool = False,
    comment: str = "",
    gate: Any = None,
) -> TransitionRequest:
    """Request moving `version` (a number) of `model` to `stage`. Read on the model is enough."""
    stage = canonical_stage(stage)
    number = parse_version_number(version.version if isinstance(version, ModelVersion) else version)
    check_archive(stage, archive_existing_versions)
    clean_gate = gates.validate_gate(gate)
    model = lock_model(principal, model)
    require(principal, model, "read", action="request a transition")
    mv = ModelVersion.objects.select_for_update().filter(model=model, version=number).first()
    if mv is None:
        raise NotFound(f"Model Version (name={model.name}, version={number}) not found")
    if mv.status != VersionStatus.READY:
        raise Conflict(
            f"Model Version (name={model.name}, version={number}) is {mv.status}: "
            f"only READY versions can be requested for a stage."
        )
    if mv.stage == stage:
        raise Conflict(f"Version {number} of '{model.name}' is already in {stage}.")
    policy = policy_for(model, stage)
    now = timezone.now()
    request = TransitionRequest.objects.create(
        tenant=principal.tenant,
        model=model,
        version=mv,
        stage=stage,
        from_stage=mv.stage,
        archive_existing_versions=bool(archive_existing_versions),
        comment=comment or "",
        gate=clean_gate,
        approvals_required=policy.approvals_required if policy is not None else 1,
        requested_by=actor_user(principal),
        requester_name=actor_label(principal),
        created_at=now,
        updated_at=now,
    )
    _history(request, "created", actor_user(principal), actor_label(principal), comment)
    _emit(
        request,
        model,
        mv,
        actor=principal.user,
        action="transition_request.created",
        after=_after(
            request,
            mv,
            comment=request.comment,
            gate=clean_gate,
            archive_existing_versions=request.archive_existing_versions,
            approvals=0,
        ),
    )
    return request


def _decider_checks(
    principal: Principal, model: RegisteredModel, version: ModelVersion, req: TransitionRequest, verb: str
) -> None:
    if req.requested_by_id is not None and req.requested_by_id == getattr(principal.user, "pk", None):
        hint = " Cancel it instead." if verb == "reject" else ""
        raise PermissionDenied(f"Permission denied: you cannot {verb} your own transition request.{hint}")
    require(
        principal,
        model,
        stage_level(version.stage, req.stage),
        action=f"{verb} a transition to {req.stage}",
    )


@transaction.atomic(durable=True)
def transition_request_approve(
    *, principal: Principal, request: TransitionRequest, comment: str = ""
) -> TransitionRequest:
    """Approve a pending request. Each approver counts once; the approval that reaches the required number makes
    the request `approved` and publishes the apply task on commit."""
    model, version, req = _lock_request(principal, request)
    _decider_checks(principal, model, version, req, "approve")
    if req.status != Status.PENDING:
        raise Conflict(f"Transition request {req.pk} is {req.status}: only pending requests can be approved.")
    user = actor_user(principal)
    if TransitionRequestEvent.objects.filter(request=req, kind="approved", actor=user).exists():
        raise Conflict(f"You have already approved transition request {req.pk}; an approver counts once.")
    _history(req, "approved", user, actor_label(principal), comment)
    approvers = approvers_of(req)
    completed = len(approvers) >= req.approvals_required
    now = timezone.now()
    req.updated_at = now
    fields = ["updated_at"]
    if completed:
        req.status = Status.APPROVED
        req.approved_at = now
        fields += ["status", "approved_at"]
    req.save(update_fields=fields)
    request_id = req.pk
    _emit(
        req,
        model,
        version,
        actor=principal.user,
        action="transition_request.approved",
        before={"status": Status.PENDING},
        after=_after(
            req,
            version,
            approver=actor_label(principal),
            comment=comment or "",
            approvals=len(approvers),
            approvers=approvers,
            completed=completed,
        ),
        after_commit=(lambda: enqueue_transition_request_apply(request_id)) if completed else None,
    )
    return req


@transaction.atomic(durable=True)
def transition_request_reject(
    *, principal: Principal, request: TransitionRequest, comment: str = ""
) -> TransitionRequest:
    """Reject a request that is not applied yet: one reject by an eligible approver decides it."""
    model, version, req = _lock_request(principal, request)
    _decider_checks(principal, model, version, req, "reject")
    if req.status not in OPEN:
        raise Conflict(f"Transition request {req.pk} is {req.status}: it can no longer be rejected.")
    before = req.status
    _history(req, "rejected", actor_user(principal), actor_label(principal), comment)
    req.status = Status.REJECTED
    req.decided_at = req.updated_at = timezone.now()
    req.save(update_fields=["status", "decided_at", "updated_at"])
    _emit(
        req,
        model,
        version,
        actor=principal.user,
        action="transition_request.rejected",
        before={"status": before},
        after=_after(
            req, version, approver=actor_label(principal), comment=comment or "", approvers=approvers_of(req)
        ),
    )
    return req


@transaction.atomic(durable=True)
def transition_request_cancel(
    *, principal: Principal, request: TransitionRequest, comment: str = ""
) -> TransitionRequest:
    """The requester withdraws their request while it is pending or approved but not applied yet."""
    model, version, req = _lock_request(principal, request)
    require(principal, model, "read", action="cancel a transition request")
    if req.requested_by_id is None or req.requested_by_id != getattr(principal.user, "pk", None):
        raise PermissionDenied("Permission denied: only the requester can cancel a transition request.")
    if req.status not in OPEN:
        raise Conflict(f"Transition request {req.pk} is {req.status}: it can no longer be cancelled.")
    before = req.status
    _history(req, "cancelled", actor_user(principal), actor_label(principal), comment)
    req.status = Status.CANCELLED
    req.decided_at = req.updated_at = timezone.now()
    req.save(update_fields=["status", "decided_at", "updated_at"])
    _emit(
        req,
        model,
        version,
        actor=principal.user,
        action="transition_request.cancelled",
        before={"status": before},
        after=_after(req, version, comment=comment or ""),
    )
    return req


def _fail(
    req: TransitionRequest, model: RegisteredModel, version: ModelVersion, reason: str, result: Any
) -> str:
    req.status = Status.FAILED
    req.status_message = reason
    req.result = result
    req.decided_at = req.updated_at = timezone.now()
    req.save(update_fields=["status", "status_message", "result", "decided_at", "updated_at"])
    _history(req, "failed", None, "system", "", reason=reason, gate=result)
    _emit(
        req,
        model,
        version,
        actor=None,
        action="transition_request.failed",
        before={"status": Status.APPROVED},
        after=_after(req, version, reason=reason, gate=result, approvers=approvers_of(req)),
    )
    return req.status


@transaction.atomic(durable=True)
def transition_request_apply(*, request_id: int) -> str | None:
    """The worker's side: move the version of an `approved` request, or mark the request `failed` with the reason
    (version no longer READY, its stage changed since the request, a gate failed). Returns the request's status,
    None when it is gone.

    Idempotent: the status guard runs under the model, version and request row locks, so a second delivery finds
    the request no longer `approved` and changes nothing; a worker killed mid-way committed nothing."""
    row = TransitionRequest.objects.filter(pk=request_id).values("model_id", "version_id").first()
    if row is None:
        return None
    model = (
        RegisteredModel.objects.select_for_update(of=("self",))
        .select_related("tenant")
        .filter(pk=row["model_id"])
        .first()
    )
    version = ModelVersion.objects.select_for_update().filter(pk=row["version_id"]).first()
    req = TransitionRequest.objects.select_for_update().filter(pk=request_id).first()
    if model is None or version is None or req is None:
        return None
    if req.status != Status.APPROVED:
        return req.status
    version.model = model
    if version.status != VersionStatus.READY:
        return _fail(req, model, version, f"version {version.version} is {version.status}, not READY", None)
    if version.stage != req.from_stage:
        return _fail(
            req,
            model,
            version,
            f"version {version.version} moved from {req.from_stage} to {version.stage} since it was requested",
            None,
        )
    approvers = approvers_of(req)
    moved, result = promote_locked(
        actor=req.requested_by,
        model=model,
        version=version,
        stage=req.stage,
        archive_existing_versions=req.archive_existing_versions,
        comment=req.comment,
        gate=req.gate,
        request_id=req.pk,
        approvers=approvers,
    )
    if not moved:
        result = cast(dict[str, Any], result)  # a refused promotion always carries its gate result
        return _fail(req, model, version, f"gate failed: {result['reason']}", result)
    req.status = Status.APPLIED
    req.result = result
    req.status_message = ""
    req.decided_at = req.updated_at = timezone.now()
    req.save(update_fields=["status", "result", "status_message", "decided_at", "updated_at"])
    _history(req, "applied", None, "system", "", gate=result)
    _emit(
        req,
        model,
        version,
        actor=req.requested_by,
        action="transition_request.applied",
        before={"status": Status.APPROVED, "stage": req.from_stage},
        after=_after(req, version, approvers=approvers, gate=result),
    )
    return req.status
