"""The native webhooks API: subscriptions, their delivery log, and replay. One view per resource, each method
calling one service (writes) or selector (reads); the webhook gatekeeper answers 404 for another tenant's webhook
and 403 to a caller who may see it but not manage it. The secret is write-only: responses show `secret_hint`."""

from __future__ import annotations

import json
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from config.openapi import ERRORS
from config.pagination import Pagination
from registry import selectors as registry_selectors
from registry.models import Webhook, WebhookDelivery
from registry.webhooks import outbox
from registry.webhooks import selectors as webhook_selectors
from registry.webhooks import services as webhook_services
from tenants.api import TenantAPIView

TAG = "webhooks"
EVENT_NAMES = [*outbox.EVENTS, outbox.ALL]


# --- serializers -------------------------------------------------------------------------------------------------


class WebhookCreateInput(serializers.Serializer):
    url = serializers.CharField(max_length=2000, trim_whitespace=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_NAMES), allow_empty=False, max_length=100
    )
    secret = serializers.CharField(max_length=256, trim_whitespace=False, write_only=True)
    model = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=256)
    description = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    active = serializers.BooleanField(required=False, default=True)


class WebhookUpdateInput(serializers.Serializer):
    url = serializers.CharField(required=False, max_length=2000, trim_whitespace=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_NAMES), required=False, allow_empty=False, max_length=100
    )
    active = serializers.BooleanField(required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    secret = serializers.CharField(required=False, max_length=256, trim_whitespace=False, write_only=True)


class WebhookOutput(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField()
    events = serializers.ListField(child=serializers.CharField())
    model = serializers.SerializerMethodField()
    active = serializers.BooleanField()
    description = serializers.CharField()
    secret_hint = serializers.CharField(
        help_text="The secret's last 4 characters; the secret is never shown."
    )
    created_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_model(self, obj: Webhook) -> str | None:
        return obj.model.name if obj.model_id and obj.model else None

    def get_created_by(self, obj: Webhook) -> str | None:
        return obj.created_by.username if obj.created_by_id and obj.created_by else None


class AttemptOutput(serializers.Serializer):
    number = serializers.IntegerField()
    at = serializers.DateTimeField()
    status_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField()
    duration_ms = serializers.IntegerField()
    response_excerpt = serializers.CharField()


class DeliveryOutput(serializers.Serializer):
    id = serializers.UUIDField()
    event = serializers.CharField()
    event_id = serializers.CharField()
    audit_seq = serializers.IntegerField(allow_null=True)
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField()
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    replay_of = serializers.UUIDField(source="replay_of_id", allow_null=True)
    payload = serializers.SerializerMethodField()
    attempt_log = AttemptOutput(many=True)

    def get_payload(self, obj: WebhookDelivery) -> dict[str, Any]:
        return json.loads(obj.payload)


def _validated(serializer_class, data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- views -------------------------------------------------------------------------------------------------------


class WebhookListView(TenantAPIView, generics.GenericAPIView):
    """The tenant's webhooks (tenant admins), or one model's (`?model=<name>`, manage on it); or subscribe."""

    queryset = Webhook.objects.none()
    pagination_class = Pagination
    serializer_class = WebhookOutput

    @extend_schema(
        tags=[TAG],
        operation_id="webhooks_list",
        parameters=[
            OpenApiParameter(
                "model", OpenApiTypes.STR, description="Only this model's webhooks.", required=False
            )
        ],
        responses={200: WebhookOutput(many=True), **ERRORS},
    )
    def get(self, request, tenant: str):
        queryset = webhook_selectors.webhook_list(
            self.principal, model_name=request.query_params.get("model")
        )
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(WebhookOutput(page, many=True).data)

    @extend_schema(
        tags=[TAG],
        operation_id="webhooks_create",
        request=WebhookCreateInput,
        description="Subscribe a URL to events of the tenant (tenant admins) or of one model (`model`: manage on "
        "it). Deliveries are signed with `secret`: `X-Modelgate-Signature: sha256=<hex HMAC-SHA256 of the body>`.",
        responses={201: WebhookOutput, **ERRORS},
    )
    def post(self, request, tenant: str):
        data = _validated(WebhookCreateInput, request.data)
        model = registry_selectors.model_get(self.principal, data["model"]) if data.get("model") else None
        webhook = webhook_services.webhook_create(
            principal=self.principal,
            url=data["url"],
            events=data["events"],
            secret=data["secret"],
            model=model,
            description=data.get("description", ""),
            active=data.get("active", True),
        )
        response = Response(WebhookOutput(webhook).data, status=status.HTTP_201_CREATED)
        response["Location"] = request.build_absolute_uri(f"/t/{tenant}/api/v1/webhooks/{webhook.pk}")
        return response


class WebhookDetailView(TenantAPIView):
    @extend_schema(tags=[TAG], operation_id="webhooks_retrieve", responses={200: WebhookOutput, **ERRORS})
    def get(self, request, tenant: str, webhook_id: str):
        return Response(WebhookOutput(webhook_selectors.webhook_get(self.principal, webhook_id)).data)

    @extend_schema(
        tags=[TAG],
        operation_id="webhooks_update",
        request=WebhookUpdateInput,
        responses={200: WebhookOutput, **ERRORS},
    )
    def patch(self, request, tenant: str, webhook_id: str):
        data = _validated(WebhookUpdateInput, request.data)
        webhook = webhook_selectors.webhook_get(self.principal, webhook_id, action="change the webhook")
        webhook = webhook_services.webhook_update(principal=self.principal, webhook=webhook, **data)
        return Response(WebhookOutput(webhook_selectors.webhook_get(self.principal, webhook.pk)).data)

    @extend_schema(tags=[TAG], operation_id="webhooks_destroy", responses={204: None, **ERRORS})
    def delete(self, request, tenant: str, webhook_id: str):
        webhook = webhook_selectors.webhook_get(self.principal, webhook_id, action="delete the webhook")
        webhook_services.webhook_delete(principal=self.principal, webhook=webhook)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeliveryListView(TenantAPIView, generics.GenericAPIView):
    """A webhook's deliveries, newest first, each with its attempts (time, status code, error, duration)."""

    queryset = WebhookDelivery.objects.none()
    pagination_class = Pagination
    serializer_class = DeliveryOutput

    @extend_schema(
        tags=[TAG],
        operation_id="webhooks_deliveries_list",
        responses={200: DeliveryOutput(many=True), **ERRORS},
    )
    def get(self, request, tenant: str, webhook_id: str):
        webhook = webhook_selectors.webhook_get(self.principal, webhook_id, action="see the delivery log")
        page = self.paginate_queryset(webhook_selectors.deliveries_of(webhook))
        return self.get_paginated_response(DeliveryOutput(page, many=True).data)


class DeliveryReplayView(TenantAPIView):
    @extend_schema(
        tags=[TAG],
        operation_id="webhooks_deliveries_replay",
        request=None,
        description="Send a past delivery again: a new delivery with the same body (and signature).",
        responses={202: DeliveryOutput, **ERRORS},
    )
    def post(self, request, tenant: str, webhook_id: str, delivery_id: str):
        webhook = webhook_selectors.webhook_get(self.principal, webhook_id, action="replay a delivery")
        replay = webhook_services.delivery_replay(
            principal=self.principal, webhook=webhook, delivery_id=delivery_id
        )
        replay = webhook_selectors.deliveries_of(webhook).get(pk=replay.pk)
        return Response(DeliveryOutput(replay).data, status=status.HTTP_202_ACCEPTED)
