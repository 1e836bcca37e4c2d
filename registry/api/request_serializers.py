"""Shapes of the transition request and policy endpoints (the API layer; services know nothing about JSON)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from registry.models import TransitionPolicy, TransitionRequest, TransitionRequestStatus

from .serializers import StageField

GATE_HELP = (
    'A gate: `{"metric", "op": ">=" | ">" | "<=" | "<", "compare_to": "Production" | "@<alias>", "min_delta", '
    '"threshold", "require_tags": {k: v}, "expected_current_version"}` (any of the conditions), or a list of '
    "them (all must pass). Unknown keys or ops are a 400."
)
GATE_SCHEMA = {
    "oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}],
    "nullable": True,
}


@extend_schema_field(GATE_SCHEMA)
class GateField(serializers.JSONField):
    """Passed through as JSON; `registry.services.gates.validate_gate` checks it strictly."""


class RequestCreateInput(serializers.Serializer):
    model = serializers.CharField(max_length=256)
    version = serializers.IntegerField(min_value=1)
    stage = StageField()
    archive_existing_versions = serializers.BooleanField(default=False)
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=10_000)
    gate = GateField(required=False, allow_null=True, default=None, help_text=GATE_HELP)


class ModelRequestCreateInput(RequestCreateInput):
    """The same, with the model taken from the URL."""

    model = None  # type: ignore[assignment]


class DecisionInput(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=10_000)


class HistoryOutput(serializers.Serializer):
    action = serializers.CharField(source="kind")
    user = serializers.CharField(source="actor_name")
    comment = serializers.CharField()
    at = serializers.DateTimeField(source="created_at")
    details = serializers.JSONField()


class ApprovalOutput(serializers.Serializer):
    user = serializers.CharField(source="actor_name")
    comment = serializers.CharField()
    at = serializers.DateTimeField(source="created_at")


class RequestOutput(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    status = serializers.ChoiceField(choices=TransitionRequestStatus.choices)
    model = serializers.CharField(source="model.name")
    version = serializers.IntegerField(source="version.version")
    stage = serializers.CharField()
    from_stage = serializers.CharField()
    current_stage = serializers.CharField(source="version.stage")
    archive_existing_versions = serializers.BooleanField()
    comment = serializers.CharField()
    gate = GateField()
    requested_by = serializers.CharField(source="requester_name")
    approvals_required = serializers.IntegerField()
    approvals = serializers.SerializerMethodField()
    approvers = serializers.SerializerMethodField()
    history = serializers.SerializerMethodField()
    status_message = serializers.CharField(help_text="Why the request failed, when it did.")
    result = serializers.JSONField(help_text="The gate result of the attempt to apply it.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    approved_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField()

    def _events(self, obj: TransitionRequest) -> list[Any]:
        return list(obj.events.all())  # prefetched by the selectors

    def get_approvals(self, obj: TransitionRequest) -> int:
        return len([e for e in self._events(obj) if e.kind == "approved"])

    @extend_schema_field(ApprovalOutput(many=True))
    def get_approvers(self, obj: TransitionRequest) -> Any:
        return ApprovalOutput([e for e in self._events(obj) if e.kind == "approved"], many=True).data

    @extend_schema_field(HistoryOutput(many=True))
    def get_history(self, obj: TransitionRequest) -> Any:
        return HistoryOutput(self._events(obj), many=True).data


class PolicyInput(serializers.Serializer):
    requires_approval = serializers.BooleanField(default=True)
    approvals_required = serializers.IntegerField(default=1, min_value=1, max_value=20)
    gate = GateField(required=False, allow_null=True, default=None, help_text=GATE_HELP)


class PolicyOutput(serializers.Serializer):
    stage = serializers.CharField()
    requires_approval = serializers.BooleanField()
    approvals_required = serializers.IntegerField()
    gate = GateField()
    updated_by = serializers.SerializerMethodField()
    updated_at = serializers.DateTimeField()

    def get_updated_by(self, obj: TransitionPolicy) -> str | None:
        return obj.updated_by.username if obj.updated_by is not None else None
