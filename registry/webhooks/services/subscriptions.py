"""Writes for webhooks: subscriptions (create, update, delete) and replay; the worker's side of a delivery (claim,
attempt, record) and the requeue sweep live in `delivery.py` and are re-exported here.

Subscription writes are durable transactions that lock the model row first (model-scoped webhooks), then the
webhook row, check the caller under the lock, write with `update_fields` and end with `events.emit`. The URL's DNS
check is network I/O, so it runs before the transaction opens."""

from __future__ import annotations

import logging
import uuid
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from config.errors import Conflict, InvalidParameter, NotFound
from config.validation import check_text
from registry import events as registry_events
from registry.models import RegisteredModel
from tenants.access import Principal

from .. import outbox, ssrf
from ..access import require_webhook_access
from ..models import Webhook, WebhookDelivery

logger = logging.getLogger(__name__)

MIN_SECRET_LENGTH = 8
MAX_SECRET_LENGTH = 256
MAX_DESCRIPTION_LENGTH = 1000


# --- validation --------------------------------------------------------------------------------------------------


def validate_events(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise InvalidParameter("'events' must be a non-empty list of event names (or [\"*\"]).")
    names: list[str] = []
    for item in value:
        if item != outbox.ALL and item not in outbox.EVENTS:
            raise InvalidParameter(
                f"Unknown webhook event {str(item)[:100]!r}: use '*' or one of {', '.join(outbox.EVENTS)}."
            )
        if item not in names:
            names.append(item)
    return [outbox.ALL] if outbox.ALL in names else names


def validate_secret(value: Any) -> str:
    if not isinstance(value, str) or not (MIN_SECRET_LENGTH <= len(value) <= MAX_SECRET_LENGTH):
        raise InvalidParameter(
            f"'secret' must be a string of {MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH} characters."
        )
    check_text(value, "secret")
    return value


def _description(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_DESCRIPTION_LENGTH:
        raise InvalidParameter(
            f"'description' must be a string of at most {MAX_DESCRIPTION_LENGTH} characters."
        )
    return check_text(value, "description")


def _url_for_audit(url: str) -> str:
    # Receiver URLs often carry a credential in the path or query (chat webhooks): the audit log keeps the origin.
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}/…"


def _snapshot(webhook: Webhook) -> dict[str, Any]:
    return {
        "url": _url_for_audit(webhook.url),
        "events": list(webhook.events),
        "active": webhook.active,
        "model": webhook.model.name if webhook.model_id and webhook.model else None,
        "description": webhook.description,
        "secret_hint": webhook.secret_hint,
    }


# --- locking -----------------------------------------------------------------------------------------------------


def _lock_model(principal: Principal, model: RegisteredModel) -> RegisteredModel:
    locked = RegisteredModel.objects.select_for_update(of=("self",)).filter(
        pk=model.pk, tenant=principal.tenant
    )
    found = locked.first()
    if found is None:
        raise NotFound(f"Registered Model with name={model.name} not found")
    return found


def _lock_webhook(principal: Principal, webhook: Webhook) -> Webhook:
    """Parent model row first (fixed order, as every registry service), then the webhook row."""
    model = _lock_model(principal, webhook.model) if webhook.model_id and webhook.model else None
    locked = Webhook.objects.for_tenant(principal.tenant).select_for_update().filter(pk=webhook.pk).first()
    if locked is None:
        raise NotFound(f"Webhook {webhook.pk} not found")
    locked.model = model
    return locked


def _emit(principal: Principal, webhook: Webhook, action: str, **kwargs: Any) -> None:
    registry_events.emit(
        tenant=principal.tenant,
        actor=principal.user,
        action=action,
        obj=webhook,
        model_id=webhook.model_id,
        **kwargs,
    )


# --- subscriptions -----------------------------------------------------------------------------------------------


def webhook_create(
    *,
    principal: Principal,
    url: str,
    events: list[str],
    secret: str,
    model: RegisteredModel | None = None,
    description: str = "",
    active: bool = True,
) -> Webhook:
    """Subscribe `url` to `events` of the tenant, or of `model`. Refuses non-public targets (SSRF)."""
    clean_events = validate_events(events)
    clean_secret = validate_secret(secret)
    clean_description = _description(description)
    ssrf.resolve(url)  # DNS is network I/O: before the transaction
    return _webhook_create(
        principal=principal,
        url=url,
        events=clean_events,
        secret=clean_secret,
        model=model,
        description=clean_description,
        active=bool(active),
    )


@transaction.atomic(durable=True)
def _webhook_create(
    *,
    principal: Principal,
    url: str,
    events: list[str],
    secret: str,
    model: RegisteredModel | None,
    description: str,
    active: bool,
) -> Webhook:
    if model is not None:
        model = _lock_model(principal, model)
    require_webhook_access(principal, model, write=True, action="create a webhook")
    webhook = Webhook.objects.create(
        tenant=principal.tenant,
        model=model,
        url=url,
        events=events,
        secret=secret,
        active=active,
        description=description,
        created_by=principal.user if getattr(principal.user, "pk", None) else None,  # type: ignore[misc]
    )
    _emit(principal, webhook, "webhook.created", after=_snapshot(webhook))
    return webhook


def webhook_update(
    *,
    principal: Principal,
    webhook: Webhook,
    url: str | None = None,
    events: list[str] | None = None,
    active: bool | None = None,
    description: str | None = None,
    secret: str | None = None,
) -> Webhook:
    """Change a webhook's URL, events, active flag, description or secret (each only when given)."""
    changes: dict[str, Any] = {}
    if events is not None:
        changes["events"] = validate_events(events)
    if description is not None:
        changes["description"] = _description(description)
    if secret is not None:
        changes["secret"] = validate_secret(secret)
    if active is not None:
        if not isinstance(active, bool):
            raise InvalidParameter("'active' must be true or false.")
        changes["active"] = active
    if url is not None:
        ssrf.resolve(url)  # before the transaction: DNS is network I/O
        changes["url"] = url
    return _webhook_update(principal=principal, webhook=webhook, changes=changes)


@transaction.atomic(durable=True)
def _webhook_update(*, principal: Principal, webhook: Webhook, changes: dict[str, Any]) -> Webhook:
    webhook = _lock_webhook(principal, webhook)
    require_webhook_access(principal, webhook.model, write=True, action="change the webhook")
    changed = [field for field, value in changes.items() if getattr(webhook, field) != value]
    if not changed:
        return webhook
    before = _snapshot(webhook)
    for field in changed:
        setattr(webhook, field, changes[field])
    webhook.save(update_fields=changed)
    _emit(principal, webhook, "webhook.updated", before=before, after=_snapshot(webhook))
    return webhook


@transaction.atomic(durable=True)
def webhook_delete(*, principal: Principal, webhook: Webhook) -> None:
    """Delete the subscription and its delivery log; deliveries not yet sent are dropped with it."""
    webhook = _lock_webhook(principal, webhook)
    require_webhook_access(principal, webhook.model, write=True, action="delete the webhook")
    # Audited before the delete so the event keeps the webhook's id; one transaction commits both.
    _emit(principal, webhook, "webhook.deleted", before=_snapshot(webhook))
    webhook.delete()


@transaction.atomic(durable=True)
def delivery_replay(*, principal: Principal, webhook: Webhook, delivery_id: Any) -> WebhookDelivery:
    """Send a past delivery again: a new delivery (new id, fresh attempts) of exactly the same body, so its
    signature and payload `id` are the original's and a receiver can recognise the event."""
    webhook = _lock_webhook(principal, webhook)
    require_webhook_access(principal, webhook.model, write=True, action="replay a webhook delivery")
    original = _delivery_of(webhook, delivery_id)
    if not webhook.active:
        raise Conflict(f"Webhook {webhook.pk} is inactive: activate it before replaying deliveries.")
    replay = WebhookDelivery.objects.create(
        tenant_id=webhook.tenant_id,
        webhook=webhook,
        event_id=original.event_id,
        audit_seq=original.audit_seq,
        event=original.event,
        payload=original.payload,
        next_attempt_at=timezone.now(),
        replay_of=original,
    )
    replay_id = str(replay.pk)
    _emit(
        principal,
        webhook,
        "webhook.delivery_replayed",
        after={"delivery": str(original.pk), "replay": replay_id, "event": original.event},
        after_commit=lambda: outbox.enqueue([replay_id]),
    )
    return replay


def _delivery_of(webhook: Webhook, delivery_id: Any) -> WebhookDelivery:
    try:
        key = uuid.UUID(str(delivery_id))
    except ValueError:  # not a UUID: no delivery has that id
        key = None
    found = (
        WebhookDelivery.objects.for_tenant(webhook.tenant_id).filter(webhook=webhook, pk=key).first()
        if key is not None
        else None
    )
    if found is None:
        raise NotFound(f"Delivery {str(delivery_id)[:64]} of webhook {webhook.pk} not found")
    return found
