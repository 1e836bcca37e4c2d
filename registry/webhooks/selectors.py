"""Reads for webhooks. Every query starts from the caller's tenant; a webhook of another tenant, or of a model the
caller may not read, answers 404 like a missing one."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from config.errors import NotFound
from config.validation import ascii_digits
from registry import selectors as registry_selectors
from tenants.access import Principal

from .access import require_webhook_access
from .models import Webhook, WebhookAttempt, WebhookDelivery


def _not_found(webhook_id: Any) -> NotFound:
    return NotFound(f"Webhook {webhook_id} not found")


def webhook_list(principal: Principal, *, model_name: str | None = None) -> QuerySet[Webhook]:
    """Without `model_name`: every webhook of the tenant (tenant admins). With it: that model's webhooks
    (manage on the model)."""
    if model_name:
        model = registry_selectors.model_get(principal, model_name)
        require_webhook_access(principal, model, write=False, action="list the model's webhooks")
        queryset = Webhook.objects.for_tenant(principal.tenant).filter(model=model)
    else:
        require_webhook_access(principal, None, write=False, action="list the tenant's webhooks")
        queryset = Webhook.objects.for_tenant(principal.tenant)
    return queryset.select_related("model", "created_by").order_by("pk")


def webhook_get(principal: Principal, webhook_id: Any, *, action: str = "see the webhook") -> Webhook:
    """The caller's webhook by id: 404 when missing or not visible, 403 when visible but not theirs to manage."""
    if not ascii_digits(str(webhook_id)):  # not a number (or beyond bigint): no webhook has that id
        raise _not_found(webhook_id)
    webhook = (
        Webhook.objects.for_tenant(principal.tenant)
        .select_related("model", "created_by")
        .filter(pk=int(str(webhook_id)))
        .first()
    )
    if webhook is None:
        raise _not_found(webhook_id)
    try:
        require_webhook_access(principal, webhook.model, write=False, action=action)
    except NotFound:  # a webhook of a model the caller may not read: as if it did not exist (no model name)
        raise _not_found(webhook_id) from None
    return webhook


def deliveries_of(webhook: Webhook) -> QuerySet[WebhookDelivery]:
    """A webhook's deliveries, newest first, each with its attempts."""
    return (
        WebhookDelivery.objects.for_tenant(webhook.tenant_id)
        .filter(webhook=webhook)
        .prefetch_related(Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("number", "at")))
        .order_by("-created_at", "pk")
    )
