"""The audit log: `record()` appends a hash-chained event inside the caller's transaction.

Each event's hash is SHA-256 over the canonical JSON of its content and the previous event's hash; the chain
head row of the tenant is locked to append, which orders events and leaves no gaps. Callers lock their own rows
first and call `record()` last, so the head lock is always taken after the object locks (one fixed order)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db import transaction
from django.utils import timezone


def canonical(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def event_content(event) -> dict[str, Any]:
    return {
        "tenant": event.tenant_id,
        "seq": event.seq,
        "created_at": event.created_at.isoformat(),
        "actor": event.actor_name,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "model_id": event.model_id,
        "version": event.version,
        "before": event.before,
        "after": event.after,
        "prev_hash": event.prev_hash,
    }


def compute_hash(event) -> str:
    return hashlib.sha256(canonical(event_content(event))).hexdigest()


def _actor_name(actor) -> str:
    if actor is None:
        return "system"
    return getattr(actor, "username", None) or str(actor)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str)) if value is not None else None


def record(
    *,
    tenant,
    actor,
    action: str,
    obj,
    before: dict | None = None,
    after: dict | None = None,
    model_id: int | None = None,
    version: int | None = None,
):
    """Append an audit event. Must run inside the service's transaction."""
    from .models import AuditChainHead, AuditEvent

    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit.record() must be called inside the service's transaction")
    AuditChainHead.objects.get_or_create(tenant_id=tenant.pk)
    head = AuditChainHead.objects.select_for_update().get(tenant_id=tenant.pk)
    user = actor if getattr(actor, "pk", None) and hasattr(actor, "username") else None
    event = AuditEvent(
        tenant_id=tenant.pk,
        seq=head.last_seq + 1,
        created_at=timezone.now(),
        actor=user,
        actor_name=_actor_name(actor),
        action=action,
        object_type=obj._meta.model_name if hasattr(obj, "_meta") else type(obj).__name__.lower(),
        object_id=str(getattr(obj, "pk", "") or ""),
        object_repr=str(obj)[:500],
        model_id=model_id,
        version=version,
        before=_jsonable(before),
        after=_jsonable(after),
        prev_hash=head.last_hash,
    )
    event.hash = compute_hash(event)
    event.save()
    head.last_seq = event.seq
    head.last_hash = event.hash
    head.save(update_fields=["last_seq", "last_hash"])
    return event
