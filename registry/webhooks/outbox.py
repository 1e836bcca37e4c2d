"""The outbox: a `registry.events` subscriber that, in the transaction of the change, writes one WebhookDelivery per
matching active subscription and enqueues its delivery on commit.

Registered from `RegistryConfig.ready()`, so every process that loads Django (web processes, workers, beat,
management commands) has it. A rolled-back change leaves no delivery; a committed one always has its rows, and if
the enqueue itself is lost (broker down at commit), the requeue sweep finds the pending rows."""

from __future__ import annotations

import json
import logging
import uuid
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.utils import timezone

from config import sqlrows
from registry import events, publishing

if TYPE_CHECKING:
    from registry.models import AuditEvent

    from .models import Webhook

logger = logging.getLogger(__name__)

DELIVER_TASK = "modelgate.deliver_webhook"  # registry/webhooks/tasks.py

# The documented webhook events (the audit action is the event name); `*` subscribes to all of them.
EVENTS: tuple[str, ...] = (
    "registered_model.created",
    "model_version.created",
    "model_version.ready",
    "model_version.stage_changed",
    "model_version_alias.set",
    "model_version_alias.deleted",
    "transition_request.created",
    "transition_request.approved",
    "transition_request.rejected",
    "transition_request.applied",
    "transition_request.cancelled",
    "gate.failed",
)
ALL = "*"
_EVENT_SET = frozenset(EVENTS)
# Stable event ids: the same audit event always gets the same id, whichever subscription or replay carries it.
_EVENT_NAMESPACE = uuid.UUID("6f1c7a52-94f4-4b0c-9a43-2f0a61b1f3d5")


def event_id(tenant_id: int, seq: int) -> str:
    return str(uuid.uuid5(_EVENT_NAMESPACE, f"{tenant_id}:{seq}"))


def subscribed(webhook: Webhook, event_name: str) -> bool:
    return ALL in webhook.events or event_name in webhook.events


def render(payload: dict[str, Any]) -> str:
    """The body as sent and signed: compact JSON with sorted keys."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def build_payload(event: AuditEvent, *, tenant_slug: str, model_name: str | None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": event_id(event.tenant_id, event.seq),
        "event": event.action,
        "tenant": tenant_slug,
        "created_at": event.created_at.isoformat(),
        "actor": event.actor_name,
        "audit_seq": event.seq,
        "data": {
            "before": event.before,
            "after": event.after,
            "object_type": event.object_type,
            "object_id": event.object_id,
        },
    }
    if model_name is not None:
        payload["model"] = model_name
    if event.version is not None:
        payload["version"] = event.version
    return payload


def _active_webhooks(tenant_id: int, model_id: int | None) -> list[Webhook]:
    """The tenant's active webhooks for all models or for `model_id` (only `id` and `events` loaded). Plain SQL:
    this runs in every audited write (twice per registered version), and compiling the ORM query cost more CPU
    than running it (issue 9)."""
    from .models import Webhook

    qn = sqlrows.qn
    names = sqlrows.fields_of(Webhook, {"id", "events"})
    sql = (
        f"SELECT {sqlrows.select_list(Webhook, names)} FROM {qn(Webhook._meta.db_table)} "
        f"WHERE {qn('tenant_id')} = %s AND {qn('active')} AND ({qn('model_id')} IS NULL OR {qn('model_id')} = %s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [tenant_id, model_id])
        rows = cursor.fetchall()
    return [sqlrows.instance(Webhook, names, row) for row in rows]


@events.preparer("webhooks")
def _prepare_active_webhooks(tenant_id: int, model_id: int | None) -> list[Webhook]:
    return _active_webhooks(tenant_id, model_id)


def record_deliveries(event: AuditEvent) -> list[str]:
    """Write the deliveries of `event` (in the caller's transaction); returns their ids. No enqueue."""
    from registry.models import RegisteredModel
    from tenants.models import Tenant

    from .models import WebhookDelivery

    if (
        event.action not in _EVENT_SET
    ):  # audit-only actions (tags, grants, webhooks themselves): no query at all
        return []
    # One indexed query (tenant, active) per webhook event; a tenant without webhooks pays only this. No cache on
    # purpose: a stale "no webhooks" entry would silently drop events, which an outbox must never do.
    # (Or read ahead by the service, before its row locks: `events.prepare`, the preparer below.)
    active = events.prepared("webhooks")
    if active is None:
        active = _active_webhooks(event.tenant_id, event.model_id)
    hooks = [hook for hook in active if subscribed(hook, event.action)]
    if not hooks:
        return []
    tenant_slug = Tenant.objects.filter(pk=event.tenant_id).values_list("slug", flat=True).first() or ""
    model_name = None
    if event.model_id is not None:
        model_name = RegisteredModel.objects.filter(pk=event.model_id).values_list("name", flat=True).first()
    body = render(build_payload(event, tenant_slug=tenant_slug, model_name=model_name))
    now = timezone.now()
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                tenant_id=event.tenant_id,
                webhook_id=hook.pk,
                event_id=event_id(event.tenant_id, event.seq),
                audit_seq=event.seq,
                event=event.action,
                payload=body,
                next_attempt_at=now,
            )
            for hook in hooks
        ]
    )
    return [str(d.pk) for d in deliveries]


def enqueue(delivery_ids: list[str], *, countdown: float = 0) -> None:
    """Send the delivery tasks. Never raises nor waits on a broker that is down: a lost enqueue leaves the rows
    pending for the requeue sweep (`registry.publishing`)."""
    for delivery_id in delivery_ids:
        publishing.publish(DELIVER_TASK, [delivery_id], countdown=countdown if countdown > 0 else None)


@events.subscribe
def on_event(event: AuditEvent) -> None:
    ids = record_deliveries(event)
    if ids:
        transaction.on_commit(lambda: enqueue(ids))
