"""Reads for transition requests and policies. A request is visible to whoever may read its model, in the caller's
tenant; anything else (missing, another tenant's, an unreadable model's) is the same 404."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from config.errors import InvalidParameter, NotFound
from registry import permissions
from registry.models import (
    RegisteredModel,
    TransitionPolicy,
    TransitionRequest,
    TransitionRequestEvent,
    TransitionRequestStatus,
)
from registry.services import stage_level
from tenants.access import Principal


def _base(principal: Principal) -> QuerySet:
    if not principal.has_scope("read"):
        return TransitionRequest.objects.none()
    readable = permissions.readable(principal, RegisteredModel.objects.all()).values("pk")
    return (
        TransitionRequest.objects.for_tenant(principal.tenant)
        .filter(model__in=readable)
        .select_related("model", "version", "requested_by")
        .prefetch_related(
            Prefetch("events", queryset=TransitionRequestEvent.objects.order_by("created_at", "pk"))
        )
    )


def requests_visible(
    principal: Principal,
    *,
    model: RegisteredModel | None = None,
    status: str | None = None,
    model_name: str | None = None,
    mine: bool = False,
    to_decide: bool = False,
) -> QuerySet:
    """The requests the caller may see, newest first, filtered. `to_decide`: pending requests the caller could
    approve now (not their own, not approved by them yet, and they hold the stage's level and `promote`)."""
    qs = _base(principal)
    if model is not None:
        qs = qs.filter(model=model)
    if model_name:
        qs = qs.filter(model__name=model_name)
    if status:
        if status not in TransitionRequestStatus.values:
            raise InvalidParameter(
                f"Unknown status {status!r}: use one of {', '.join(TransitionRequestStatus.values)}."
            )
        qs = qs.filter(status=status)
    user_id = getattr(principal.user, "pk", None)
    if mine:
        qs = qs.filter(requested_by_id=user_id)
    if to_decide:
        candidates = (
            qs.filter(status=TransitionRequestStatus.PENDING)
            .exclude(requested_by_id=user_id)
            .exclude(
                pk__in=TransitionRequestEvent.objects.filter(kind="approved", actor_id=user_id).values(
                    "request_id"
                )
            )
        )
        allowed: dict[tuple[int, str], bool] = {}
        ids = []
        # One permission check per (model, level), not per request.
        for req in candidates.select_related("model", "version"):
            key = (req.model_id, stage_level(req.version.stage, req.stage))
            if key not in allowed:
                allowed[key] = permissions.allows(principal, req.model, key[1])
            if allowed[key]:
                ids.append(req.pk)
        qs = qs.filter(pk__in=ids)
    return qs.order_by("-created_at", "-pk")


def request_get(principal: Principal, request_id: int) -> TransitionRequest:
    found = _base(principal).filter(pk=request_id).first()
    if found is None:
        raise NotFound(f"Transition request {request_id} not found.")
    return found


def request_fresh(request: TransitionRequest) -> TransitionRequest:
    """Re-read a request after a write (the committed state), with what the output shows."""
    return (
        TransitionRequest.objects.select_related("model", "version", "requested_by")
        .prefetch_related(
            Prefetch("events", queryset=TransitionRequestEvent.objects.order_by("created_at", "pk"))
        )
        .get(pk=request.pk)
    )


def policies_of(model: RegisteredModel) -> QuerySet:
    return TransitionPolicy.objects.filter(model=model).select_related("updated_by").order_by("stage")


def policy_get(model: RegisteredModel, stage: str) -> TransitionPolicy:
    found = policies_of(model).filter(stage=stage).first()
    if found is None:
        raise NotFound(f"Registered model '{model.name}' has no transition policy for {stage}.")
    return found
