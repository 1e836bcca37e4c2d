"""Writes for webhooks: subscriptions (create, update, delete, replay a delivery) and the worker's side of a delivery
(claim, attempt, record, requeue). Re-exported here: `from registry.webhooks import services`."""

from __future__ import annotations

from .delivery import deliveries_requeue, delivery_attempt, delivery_record_attempt
from .subscriptions import delivery_replay, webhook_create, webhook_delete, webhook_update

__all__ = [
    "deliveries_requeue",
    "delivery_attempt",
    "delivery_record_attempt",
    "delivery_replay",
    "webhook_create",
    "webhook_delete",
    "webhook_update",
]
