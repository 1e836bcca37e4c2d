"""The audit log in the native API: the events (newest first, filtered, paginated) and the chain's verification.

Tenant admins read every event and may verify the chain; other members read only the events of models they may
read (`registry.permissions.readable`), never tenant-level events (tokens, memberships, teams), and get 403 on
verify. Another tenant's URL is a 404 before any of this (the tenant gatekeeper)."""

from __future__ import annotations

from datetime import UTC, datetime

import django_filters
from django import forms
from django.db.models import QuerySet
from django.utils.dateparse import parse_date, parse_datetime
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.response import Response

from config.errors import PermissionDenied
from config.openapi import ERRORS
from config.pagination import Pagination
from registry import permissions
from registry.audit import verify_chain
from registry.models import AuditEvent, RegisteredModel
from tenants.access import Principal
from tenants.api import TenantAPIView

TAG = "audit"


class AuditEventOutput(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_name")

    class Meta:
        model = AuditEvent
        fields = [
            "seq",
            "created_at",
            "actor",
            "actor_id",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "model_id",
            "version",
            "before",
            "after",
            "prev_hash",
            "hash",
            "hash_version",
        ]


class CheckpointOutput(serializers.Serializer):
    seq = serializers.IntegerField()
    hash = serializers.CharField()
    time = serializers.CharField()
    signature_ok = serializers.BooleanField()


class VerifyOutput(serializers.Serializer):
    ok = serializers.BooleanField()
    events = serializers.IntegerField()
    first_bad_seq = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField(allow_blank=True)
    checkpoint = CheckpointOutput(allow_null=True)


class _InstantField(forms.CharField):
    """An instant as ISO-8601 (a date, or a date-time; without an offset: UTC) or as epoch milliseconds."""

    def to_python(self, value) -> datetime | None:  # type: ignore[override]
        text = (super().to_python(value) or "").strip()
        if not text:
            return None
        try:
            if text.isascii() and text.isdigit():
                return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
            parsed = parse_datetime(text)
            if parsed is None and (day := parse_date(text)) is not None:
                parsed = datetime(day.year, day.month, day.day)
        except (ValueError, OverflowError, OSError):
            parsed = None
        if parsed is None:
            raise forms.ValidationError(
                "Invalid instant %(value)r: use ISO-8601 (2026-01-31T12:00:00Z) or epoch milliseconds.",
                params={"value": text[:100]},
            )
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@extend_schema_field({"type": "string", "description": "ISO-8601 date-time (UTC if no offset) or epoch ms."})
class InstantFilter(django_filters.Filter):
    field_class = _InstantField


class AuditEventFilter(django_filters.FilterSet):
    model = django_filters.CharFilter(method="filter_model", help_text="Registered model name (exact).")
    version = django_filters.NumberFilter(field_name="version", help_text="Model version number.")
    actor = django_filters.CharFilter(field_name="actor_name", help_text="Who did it (username).")
    action = django_filters.CharFilter(field_name="action", help_text="e.g. `model_version.stage_changed`.")
    since = InstantFilter(field_name="created_at", lookup_expr="gte", help_text="At or after this instant.")
    until = InstantFilter(field_name="created_at", lookup_expr="lte", help_text="At or before this instant.")

    class Meta:
        model = AuditEvent
        fields: list[str] = []

    def filter_model(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if not value:
            return queryset
        if "\x00" in value:  # PostgreSQL refuses NUL in a query: a name with one names no model
            return queryset.none()
        # Events keep the model's id, so a renamed model's history is found under its current name.
        return queryset.filter(
            model_id__in=RegisteredModel.objects.filter(
                tenant_id=self.request.principal.tenant.pk, name=value
            ).values("pk")
        )


def visible_events(principal: Principal) -> QuerySet:
    """The audit events the caller may read, newest first."""
    if not principal.has_scope("read"):
        return AuditEvent.objects.none()
    events = AuditEvent.objects.filter(tenant_id=principal.tenant.pk).order_by("-seq")
    if principal.is_tenant_admin:
        return events
    readable = permissions.readable(principal, RegisteredModel.objects.filter(tenant_id=principal.tenant.pk))
    return events.filter(model_id__in=readable.values("pk"))


class AuditListView(TenantAPIView, generics.GenericAPIView):
    """The tenant's audit events, newest first."""

    queryset = AuditEvent.objects.none()
    pagination_class = Pagination
    filter_backends = [DjangoFilterBackend]  # invalid filters → 400 INVALID_PARAMETER_VALUE
    filterset_class = AuditEventFilter
    serializer_class = AuditEventOutput

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AuditEvent.objects.none()
        return visible_events(self.principal)

    @extend_schema(
        tags=[TAG],
        operation_id="audit_list",
        description="Audit events, newest first. Tenant admins see every event; other members only the events of "
        "models they may read.",
        responses={200: AuditEventOutput(many=True), **ERRORS},
    )
    def get(self, request, tenant: str):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(AuditEventOutput(page, many=True).data)


class AuditVerifyView(TenantAPIView):
    """Recompute the tenant's audit chain and compare it with the latest signed checkpoint (tenant admins)."""

    @extend_schema(
        tags=[TAG],
        operation_id="audit_verify",
        description="`ok` only if every event's hash, link and sequence number, the chain head and the latest "
        "signed checkpoint agree; otherwise `first_bad_seq` (or null when no event is to blame, e.g. a forged "
        "checkpoint) and `reason`.",
        responses={200: VerifyOutput, **ERRORS},
    )
    def get(self, request, tenant: str):
        if not self.principal.is_tenant_admin:
            raise PermissionDenied("Verifying the audit log needs the tenant admin role.")
        self.principal.require_scope("read")
        return Response(VerifyOutput(verify_chain(self.principal.tenant).as_dict()).data)
