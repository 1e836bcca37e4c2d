"""Celery tasks for webhooks. Each takes ids, has an explicit name, and calls a service; idempotency comes from the
services' conditional UPDATEs (a duplicate task finds the delivery already claimed or done and sends nothing)."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from .outbox import DELIVER_TASK

# Only database trouble is retried here: the receiver's failures are the delivery's own retries (with backoff and
# a log), not the task's.
TRANSIENT_ERRORS = (OperationalError, InterfaceError)


@shared_task(
    name=DELIVER_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=1,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=5,
)
def deliver_webhook(delivery_id: str) -> str:
    """Make the next attempt of one delivery (if it is pending and due). Returns its status afterwards."""
    from django.db import close_old_connections

    from .services import delivery_attempt

    close_old_connections()  # a connection broken by a database restart would fail every retry otherwise
    return delivery_attempt(delivery_id=str(delivery_id))


@shared_task(name="modelgate.requeue_webhook_deliveries", acks_late=True)
def requeue_webhook_deliveries(stale_after_seconds: float | None = None) -> int:
    """The safety net (beat): re-enqueue deliveries whose worker was lost mid-attempt and due ones whose task was
    lost. Harmless when they are merely slow: a duplicate task's claim fails and it sends nothing."""
    from .services import deliveries_requeue

    return deliveries_requeue(stale_after=stale_after_seconds)


__all__ = ["deliver_webhook", "requeue_webhook_deliveries"]
