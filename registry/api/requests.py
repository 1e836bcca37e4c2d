"""The native API for governance: transition requests (request, approve, reject, cancel, list) and per-model
transition policies. Reads go through `request_selectors` (404 for what the caller may not see), writes through
the services, which check the level each decision needs (403 when the model is visible but the level is not)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response

from config.errors import InvalidParameter
from config.openapi import CONFLICT, ERRORS, errors
from config.pagination import Pagination
from registry import selectors, services
from registry.models import TransitionRequest
from registry.validation import canonical_stage
from tenants.api import TenantAPIView

from . import request_selectors as rsel
from .request_serializers import (
    DecisionInput,
    ModelRequestCreateInput,
    PolicyInput,
    PolicyOutput,
    RequestCreateInput,
    RequestOutput,
)

TAG = "governance"
LIST_PARAMETERS = [
    OpenApiParameter(
        "status",
        OpenApiTypes.STR,
        enum=["pending", "approved", "rejected", "cancelled", "applied", "failed"],
        description="Only requests in this status.",
    ),
    OpenApiParameter("model", OpenApiTypes.STR, description="Only requests for this model (by name)."),
    OpenApiParameter("mine", OpenApiTypes.BOOL, description="`1`: only requests you made."),
    OpenApiParameter(
        "to_decide", OpenApiTypes.BOOL, description="`1`: pending requests you may approve (not your own)."
    ),
]


def _validated(serializer_class, data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _flag(request, name: str) -> bool:
    raw = request.query_params.get(name)
    if raw in (None, "", "0", "false", "False"):
        return False
    if raw in ("1", "true", "True"):
        return True
    raise InvalidParameter(f"'{name}' must be 1 or 0.")


def _request_response(req: TransitionRequest, status_code: int = 200) -> Response:
    return Response(RequestOutput(rsel.request_fresh(req)).data, status=status_code)


class _RequestList(TenantAPIView, generics.GenericAPIView):
    queryset = TransitionRequest.objects.none()
    pagination_class = Pagination
    serializer_class = RequestOutput

    def _list(self, request, model=None) -> Response:
        qs = rsel.requests_visible(
            self.principal,
            model=model,
            status=request.query_params.get("status") or None,
            model_name=request.query_params.get("model") or None,
            mine=_flag(request, "mine"),
            to_decide=_flag(request, "to_decide"),
        )
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(RequestOutput(page, many=True).data)

    def _create(self, request, tenant: str, model_name: str, data: dict[str, Any]) -> Response:
        model = selectors.model_get(self.principal, model_name)
        req = services.transition_request_create(
            principal=self.principal,
            model=model,
            version=data["version"],
            stage=data["stage"],
            archive_existing_versions=data["archive_existing_versions"],
            comment=data.get("comment", ""),
            gate=data.get("gate"),
        )
        response = _request_response(req, status.HTTP_201_CREATED)
        response["Location"] = request.build_absolute_uri(f"/t/{tenant}/api/v1/transition-requests/{req.pk}")
        return response


class TransitionRequestListView(_RequestList):
    """Transition requests of the models you may read, newest first; or request a stage for a READY version."""

    @extend_schema(
        tags=[TAG],
        operation_id="transition_requests_list",
        parameters=LIST_PARAMETERS,
        responses={200: RequestOutput(many=True), **ERRORS},
    )
    def get(self, request, tenant: str):
        return self._list(request)

    @extend_schema(
        tags=[TAG],
        operation_id="transition_requests_create",
        request=RequestCreateInput,
        responses={201: RequestOutput, **errors(CONFLICT)},
        description="Anyone who can read the model may request a stage for a READY version. Approvers other "
        "than you (with the stage's permission and the `promote` scope) decide; a worker applies it.",
    )
    def post(self, request, tenant: str):
        data = _validated(RequestCreateInput, request.data)
        return self._create(request, tenant, data["model"], data)


class ModelTransitionRequestListView(_RequestList):
    """The same, for one model."""

    @extend_schema(
        tags=[TAG],
        operation_id="models_transition_requests_list",
        parameters=LIST_PARAMETERS,
        responses={200: RequestOutput(many=True), **ERRORS},
    )
    def get(self, request, tenant: str, name: str):
        return self._list(request, model=selectors.model_get(self.principal, name))

    @extend_schema(
        tags=[TAG],
        operation_id="models_transition_requests_create",
        request=ModelRequestCreateInput,
        responses={201: RequestOutput, **errors(CONFLICT)},
    )
    def post(self, request, tenant: str, name: str):
        data = _validated(ModelRequestCreateInput, request.data)
        return self._create(request, tenant, name, data)


class TransitionRequestDetailView(TenantAPIView):
    @extend_schema(
        tags=[TAG], operation_id="transition_requests_retrieve", responses={200: RequestOutput, **ERRORS}
    )
    def get(self, request, tenant: str, request_id: int):
        return _request_response(rsel.request_get(self.principal, request_id))


def _decide(view: TenantAPIView, request, request_id: int, service) -> Response:
    data = _validated(DecisionInput, request.data)
    req = rsel.request_get(view.principal, request_id)
    return _request_response(service(principal=view.principal, request=req, comment=data["comment"]))


def _decision_schema(name: str, description: str):
    return extend_schema(
        tags=[TAG],
        operation_id=f"transition_requests_{name}",
        request=DecisionInput,
        responses={200: RequestOutput, **errors(CONFLICT)},
        description=description,
    )


class TransitionRequestApproveView(TenantAPIView):
    @_decision_schema(
        "approve",
        "Approve a pending request (not your own; needs the stage's permission and `promote`). Each approver "
        "counts once; the last approval needed makes it `approved` and a worker applies it.",
    )
    def post(self, request, tenant: str, request_id: int):
        return _decide(self, request, request_id, services.transition_request_approve)


class TransitionRequestRejectView(TenantAPIView):
    @_decision_schema(
        "reject",
        "Reject a request not yet applied (any eligible approver's reject decides it; not your own).",
    )
    def post(self, request, tenant: str, request_id: int):
        return _decide(self, request, request_id, services.transition_request_reject)


class TransitionRequestCancelView(TenantAPIView):
    @_decision_schema(
        "cancel", "Withdraw your own request while it is pending or approved but not yet applied."
    )
    def post(self, request, tenant: str, request_id: int):
        return _decide(self, request, request_id, services.transition_request_cancel)


# --- policies ---------------------------------------------------------------------------------------------------


class ModelPolicyListView(TenantAPIView):
    """The model's transition policies, one per target stage."""

    @extend_schema(
        tags=[TAG], operation_id="models_policies_list", responses={200: PolicyOutput(many=True), **ERRORS}
    )
    def get(self, request, tenant: str, name: str):
        model = selectors.model_get(self.principal, name)
        return Response(PolicyOutput(rsel.policies_of(model), many=True).data)


class ModelPolicyView(TenantAPIView):
    """The policy for moving the model's versions to one stage: whether it needs an approved request, how many
    approvals, and a standing gate. Setting or deleting it needs `manage` on the model."""

    @extend_schema(
        tags=[TAG], operation_id="models_policies_retrieve", responses={200: PolicyOutput, **ERRORS}
    )
    def get(self, request, tenant: str, name: str, stage: str):
        model = selectors.model_get(self.principal, name)
        return Response(PolicyOutput(rsel.policy_get(model, canonical_stage(stage))).data)

    @extend_schema(
        tags=[TAG],
        operation_id="models_policies_set",
        request=PolicyInput,
        responses={200: PolicyOutput, **ERRORS},
    )
    def put(self, request, tenant: str, name: str, stage: str):
        data = _validated(PolicyInput, request.data)
        model = selectors.model_get(self.principal, name)
        policy = services.transition_policy_set(
            principal=self.principal,
            model=model,
            stage=stage,
            requires_approval=data["requires_approval"],
            approvals_required=data["approvals_required"],
            gate=data.get("gate"),
        )
        return Response(PolicyOutput(rsel.policy_get(model, policy.stage)).data)

    @extend_schema(tags=[TAG], operation_id="models_policies_delete", responses={204: None, **ERRORS})
    def delete(self, request, tenant: str, name: str, stage: str):
        model = selectors.model_get(self.principal, name)
        services.transition_policy_delete(principal=self.principal, model=model, stage=stage)
        return Response(status=status.HTTP_204_NO_CONTENT)
