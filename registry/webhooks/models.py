"""Webhook subscriptions, their deliveries (the outbox) and the log of every delivery attempt.

Imported at the end of `registry/models.py`, so these are models of the `registry` app (one app, one migration
history). Every row carries its tenant, and every query starts from `for_tenant()`."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from tenants.models import TenantOwnedQuerySet


class Webhook(models.Model):
    """A subscription: POST the listed events of a tenant (or of one model, when `model` is set) to `url`."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="webhooks")
    # Model-scoped subscription: only that model's events; it goes away with the model.
    model = models.ForeignKey(
        "registry.RegisteredModel", on_delete=models.CASCADE, null=True, blank=True, related_name="webhooks"
    )
    url = models.CharField(max_length=2000)
    events = models.JSONField(default=list)  # event names, or ["*"] for every documented event
    # Stored in clear because every delivery is signed with it (HMAC needs the key itself, a hash would not do).
    # Never shown back after creation: the API and the admin show `secret_hint` (its last 4 characters) only.
    secret = models.CharField(max_length=256)
    active = models.BooleanField(default=True)
    description = models.CharField(max_length=1000, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantOwnedQuerySet.as_manager()

    class Meta:
        # The outbox asks "active webhooks of this tenant" once per event: keep it one index lookup.
        indexes = [models.Index(fields=["tenant", "active"], name="webhook_tenant_active")]

    def __str__(self) -> str:
        return f"webhook {self.pk} → {self.url}"

    @property
    def secret_hint(self) -> str:
        return "…" + self.secret[-4:] if self.secret else ""


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    DELIVERING = "delivering"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class WebhookDelivery(models.Model):
    """One event for one subscription. `payload` is the exact body that is signed and sent, byte for byte."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    # The event's id (stable across subscriptions and replays, so receivers can deduplicate) and audit position.
    event_id = models.CharField(max_length=64)
    audit_seq = models.BigIntegerField(null=True, blank=True)
    event = models.CharField(max_length=100)
    payload = models.TextField()
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.IntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_status_code = models.IntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    replay_of = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    objects = TenantOwnedQuerySet.as_manager()

    class Meta:
        indexes = [
            # The requeue sweep: pending ones that are due, and delivering ones that are stale.
            models.Index(fields=["status", "next_attempt_at"], name="webhookdelivery_due"),
            models.Index(fields=["webhook", "-created_at"], name="webhookdelivery_log"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → webhook {self.webhook_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One HTTP attempt of a delivery: when, what came back, how long it took."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.IntegerField()
    at = models.DateTimeField()
    status_code = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.IntegerField(default=0)
    response_excerpt = models.TextField(blank=True)

    objects = TenantOwnedQuerySet.as_manager()

    class Meta:
        ordering = ["delivery_id", "number", "at"]
        indexes = [models.Index(fields=["delivery", "number"], name="webhookattempt_delivery")]
