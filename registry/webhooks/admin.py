"""Django admin for webhooks: subscriptions and deliveries, read-only (the secret never shown), with a replay
action on deliveries that goes through `delivery_replay` as a tenant admin of the delivery's tenant, so it is
checked, locked and audited like the API's. Platform admins only, like the rest of the registry admin."""

from __future__ import annotations

from django.contrib import admin, messages

from config.errors import ModelgateError
from tenants.access import platform_admin_principal

from . import services
from .models import Webhook, WebhookAttempt, WebhookDelivery


class PlatformAdminReadOnly(admin.ModelAdmin):
    def has_module_permission(self, request):
        return bool(request.user.is_active and request.user.is_superuser)

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        # Every field is read-only; "change" is what the replay action asks for.
        return self.has_module_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Webhook)
class WebhookAdmin(PlatformAdminReadOnly):
    list_display = ["id", "tenant", "model", "url", "events", "active", "created_at"]
    list_filter = ["tenant", "active"]
    search_fields = ["url", "tenant__slug", "model__name"]
    list_select_related = ["tenant", "model"]
    fields = (
        "tenant",
        "model",
        "url",
        "events",
        "active",
        "description",
        "secret_hint",
        "created_by",
        "created_at",
    )
    readonly_fields = fields


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ("number", "at", "status_code", "error", "duration_ms", "response_excerpt")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(PlatformAdminReadOnly):
    list_display = [
        "id",
        "tenant",
        "webhook",
        "event",
        "status",
        "attempts",
        "last_status_code",
        "created_at",
    ]
    list_filter = ["status", "event", "tenant"]
    search_fields = ["id", "event_id", "webhook__url", "tenant__slug"]
    list_select_related = ["tenant", "webhook"]
    fields = (
        "id",
        "tenant",
        "webhook",
        "event",
        "event_id",
        "audit_seq",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "last_attempt_at",
        "created_at",
        "delivered_at",
        "replay_of",
        "payload",
    )
    readonly_fields = fields
    inlines = [AttemptInline]
    actions = ["replay"]

    @admin.action(description="Replay the selected deliveries", permissions=["change"])
    def replay(self, request, queryset):
        done = 0
        for delivery in queryset.select_related("webhook__tenant", "webhook__model"):
            webhook = delivery.webhook
            try:
                principal = platform_admin_principal(user=request.user, tenant=webhook.tenant)
                services.delivery_replay(principal=principal, webhook=webhook, delivery_id=delivery.pk)
                done += 1
            except ModelgateError as exc:
                self.message_user(request, f"Delivery {delivery.pk}: {exc.message}", level=messages.ERROR)
        if done:
            self.message_user(request, f"Replayed {done} deliveries.", level=messages.SUCCESS)
