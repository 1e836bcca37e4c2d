"""The one call every service makes after its writes: `emit(...)`.

`emit` runs inside the service's transaction, after the rows are written. It appends the hash-chained audit event
(`registry.audit.record`), writes the outbox rows that other parts of Modelgate hang on an event (webhook
deliveries, for example) in the same transaction, and schedules the work that must only start once the change is
committed (`after_commit`: Celery tasks, webhook dispatch) with `transaction.on_commit`. A rolled-back change
therefore leaves no audit event, no outbox row and no task behind.

Where a new side effect of a change goes: a function registered with `subscribe()`. Subscribers run in the
service's transaction with the new `AuditEvent`; they write rows only (no network, no storage I/O) and schedule
their own dispatch with `transaction.on_commit`.

Locking order: `emit` takes the tenant's audit chain head lock, so services call it last, after locking and
writing their own rows (parent model row first)."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from django.db import transaction

from . import audit

if TYPE_CHECKING:
    from .models import AuditEvent

Subscriber = Callable[["AuditEvent"], None]
_subscribers: list[Subscriber] = []


def subscribe(fn: Subscriber) -> Subscriber:
    """Register `fn(event)` to run in the transaction of every emitted event (usable as a decorator)."""
    if fn not in _subscribers:
        _subscribers.append(fn)
    return fn


# `prepare()` / `prepared()`: what a subscriber reads for an event, read ahead of the service's row locks.
Preparer = Callable[[int, int | None], Any]
_preparers: dict[str, Preparer] = {}
_prepared: ContextVar[dict[str, Any] | None] = ContextVar("modelgate_event_prepared", default=None)


def preparer(name: str) -> Callable[[Preparer], Preparer]:
    """Register `fn(tenant_id, model_id)` under `name`: it reads, ahead of time, what a subscriber needs for an
    event of that tenant and model (a subscriber then finds it with `prepared(name)`)."""

    def register(fn: Preparer) -> Preparer:
        _preparers[name] = fn
        return fn

    return register


def prepare(*, tenant_id: int, model_id: int | None = None) -> dict[str, Any]:
    """Optional, in the service's transaction BEFORE it takes its row locks: run the preparers, and pass the result to
    `emit(prepared=...)`. Why: every statement between a lock and COMMIT is paid by everyone queued on that lock
    (each version creation of a model, every write of the tenant on its audit chain head), and the subscribers'
    reads (the webhook outbox's "which webhooks are active") need nothing the service writes. It reads the same
    committed state a few milliseconds earlier in the same transaction; READ COMMITTED never promised more."""
    return {
        "tenant_id": tenant_id,
        "model_id": model_id,
        "values": {name: fn(tenant_id, model_id) for name, fn in _preparers.items()},
    }


def prepared(name: str) -> Any:
    """For a subscriber, during `emit`: what preparer `name` read for this event's tenant and model, or None."""
    current = _prepared.get()
    return None if current is None else current["values"].get(name)


def emit(
    *,
    tenant: Any,
    actor: Any,
    action: str,
    obj: Any,
    model_id: int | None = None,
    version: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    after_commit: Callable[[], None] | None = None,
    prepared: dict[str, Any] | None = None,
) -> AuditEvent:
    """Record that `actor` did `action` to `obj` in `tenant`. Must run inside the service's transaction.

    `action` is the audit action and the webhook event name (`model_version.stage_changed`, …); `model_id` and
    `version` tie the event to a registered model and one of its versions, for history queries."""
    event = audit.record(
        tenant=tenant,
        actor=actor,
        action=action,
        obj=obj,
        model_id=model_id,
        version=version,
        before=before,
        after=after,
    )
    usable = prepared is not None and (prepared["tenant_id"], prepared["model_id"]) == (tenant.pk, model_id)
    token = _prepared.set(prepared if usable else None)
    try:
        for subscriber in _subscribers:
            subscriber(event)
    finally:
        _prepared.reset(token)
    if after_commit is not None:
        transaction.on_commit(after_commit)
    return event
