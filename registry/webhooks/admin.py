"""Django admin for webhooks, for platform admins and tenant admins in their own tenants
(`tenants.admin_scope.TenantScoped`). Subscriptions are created, changed and deleted through the subscription
services as a tenant admin of the webhook's tenant (`admin_principal`), so the URL is checked against private
targets, the events validated and every change audited; the secret is write-only (only its last characters are
shown). Deliveries are read-only, with a replay action that goes through `delivery_replay` (checked, locked and
audited like the API's)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from config.errors import ModelgateError
from tenants.admin import ServiceAdmin
from tenants.admin_scope import TenantScoped, admin_principal

from . import services
from .models import Webhook, WebhookAttempt, WebhookDelivery


class WebhookForm(forms.ModelForm):
    new_secret = forms.CharField(
        required=False,
        label="Secret",
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Signs every delivery (HMAC). Required when adding; leave empty to keep the current one.",
    )

    class Meta:
        model = Webhook
        fields = ["tenant", "model", "url", "events", "active", "description"]

    def clean(self):
        data = super().clean()
        if self.instance.pk is None and not data.get("new_secret"):
            self.add_error("new_secret", "A new webhook needs a secret.")
        return data


@admin.register(Webhook)
class WebhookAdmin(TenantScoped, ServiceAdmin):
    form = WebhookForm
    list_display = ["id", "tenant", "model", "url", "events", "active", "created_at"]
    list_filter = ["tenant", "active"]
    search_fields = ["url", "tenant__slug", "model__name"]
    list_select_related = ["tenant", "model"]
    autocomplete_fields = ["model"]

    def get_fields(self, request, obj=None):
        fields = ["tenant", "model", "url", "events", "active", "description", "new_secret"]
        return fields + ["secret_hint", "created_by", "created_at"] if obj else fields

    def get_readonly_fields(self, request, obj=None):
        # Which tenant and model a subscription covers is what it is: subscribe again for another.
        return ["tenant", "model", "secret_hint", "created_by", "created_at"] if obj else []

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        secret = data.get("new_secret") or None
        if change:
            principal = admin_principal(request, obj.tenant)
            saved = services.webhook_update(
                principal=principal,
                webhook=obj,
                url=data["url"] if "url" in form.changed_data else None,
                events=data["events"] if "events" in form.changed_data else None,
                active=data["active"] if "active" in form.changed_data else None,
                description=data["description"] if "description" in form.changed_data else None,
                secret=secret,
            )
        else:
            saved = services.webhook_create(
                principal=admin_principal(request, data["tenant"]),
                url=data["url"],
                events=data["events"],
                secret=secret or "",
                model=data.get("model"),
                description=data.get("description") or "",
                active=data["active"],
            )
        obj.pk = saved.pk
        obj.refresh_from_db()

    def get_deleted_objects(self, objs, request):
        # A webhook's deliveries go with it (as through the API), though nobody deletes deliveries by themselves:
        # the delete permission on the webhook is the one that counts.
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        skip = {str(m._meta.verbose_name) for m in (WebhookDelivery, WebhookAttempt)}
        return deleted, counts, {p for p in perms_needed if str(p) not in skip}, protected

    def delete_model(self, request, obj):
        services.webhook_delete(principal=admin_principal(request, obj.tenant), webhook=obj)

    def delete_queryset(self, request, queryset):
        for webhook in queryset.select_related("tenant", "model"):
            services.webhook_delete(principal=admin_principal(request, webhook.tenant), webhook=webhook)


class AttemptInline(TenantScoped, admin.TabularInline):
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
class WebhookDeliveryAdmin(TenantScoped, admin.ModelAdmin):
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

    def has_add_permission(self, request, *args):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # A delivery's page is read-only; "change" (on the list) is what the replay action asks for: it makes a
        # new delivery through the service.
        return obj is None and super().has_change_permission(request, obj)

    @admin.action(description="Replay the selected deliveries", permissions=["change"])
    def replay(self, request, queryset):
        done = 0
        for delivery in queryset.select_related("webhook__tenant", "webhook__model"):
            webhook = delivery.webhook
            try:
                principal = admin_principal(request, webhook.tenant)
                services.delivery_replay(principal=principal, webhook=webhook, delivery_id=delivery.pk)
                done += 1
            except ModelgateError as exc:
                self.message_user(request, f"Delivery {delivery.pk}: {exc.message}", level=messages.ERROR)
        if done:
            self.message_user(request, f"Replayed {done} deliveries.", level=messages.SUCCESS)
