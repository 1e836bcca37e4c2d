"""The worker's side of a webhook delivery: claim, attempt, record; and the requeue sweep.

A delivery is claimed with a conditional UPDATE (pending and due → delivering, attempts + 1), so two workers never
make the same attempt; the POST happens outside any transaction; the result is recorded with another conditional
UPDATE that only applies while this attempt still owns the row. Delivery is at-least-once: a worker lost
mid-attempt leaves the row `delivering`, and the sweep hands it out again once it is stale."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .. import conf, outbox, sender
from ..models import DeliveryStatus, WebhookAttempt, WebhookDelivery

logger = logging.getLogger(__name__)


def delivery_attempt(*, delivery_id: str) -> str:
    """Make the next attempt of a delivery if it is pending and due; returns the delivery's status afterwards
    (or "missing"). Safe to run any number of times: only the run whose claim succeeds sends anything."""
    try:
        uuid.UUID(str(delivery_id))
    except ValueError:
        return "missing"
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now
    ).update(status=DeliveryStatus.DELIVERING, attempts=F("attempts") + 1, last_attempt_at=now)
    delivery = WebhookDelivery.objects.select_related("webhook").filter(pk=delivery_id).first()
    if delivery is None:
        return "missing"
    if not claimed:  # someone else's attempt, already done, or not yet due
        return delivery.status
    webhook = delivery.webhook
    if not webhook.active:
        outcome = sender.Outcome(None, "the webhook is inactive", 0)
    else:
        # Outside any transaction: a slow receiver holds no lock and no connection in a transaction.
        outcome = sender.post(
            url=webhook.url,
            secret=webhook.secret,
            body=delivery.payload,
            event=delivery.event,
            delivery_id=str(delivery.pk),
        )
    return delivery_record_attempt(delivery=delivery, outcome=outcome, final=not webhook.active)


@transaction.atomic(durable=True)
def delivery_record_attempt(
    *, delivery: WebhookDelivery, outcome: sender.Outcome, final: bool = False
) -> str:
    """Log the attempt and move the delivery on: succeeded, pending again after a backoff, or failed."""
    now = timezone.now()
    number = delivery.attempts
    # The row lock orders this against the sweep and against the webhook's deletion (which cascades here).
    current = WebhookDelivery.objects.select_for_update().filter(pk=delivery.pk).first()
    if current is None:  # the webhook was deleted meanwhile, and its log with it
        return "missing"
    WebhookAttempt.objects.create(
        tenant_id=delivery.tenant_id,
        delivery=current,
        number=number,
        at=delivery.last_attempt_at or now,
        status_code=outcome.status_code,
        error=outcome.error,
        duration_ms=outcome.duration_ms,
        response_excerpt=outcome.excerpt,
    )
    if current.status != DeliveryStatus.DELIVERING or current.attempts != number:
        # The sweep took it back (this attempt was presumed lost): the newer attempt decides; this one is logged.
        return current.status
    current.last_status_code = outcome.status_code
    current.last_error = outcome.error
    fields = ["status", "last_status_code", "last_error"]
    delay = 0.0
    if outcome.ok:
        current.status = DeliveryStatus.SUCCEEDED
        current.delivered_at = now
        fields.append("delivered_at")
    elif final or number >= conf.max_attempts():
        current.status = DeliveryStatus.FAILED
    else:
        delay = conf.backoff_seconds(number)
        current.status = DeliveryStatus.PENDING
        current.next_attempt_at = now + timedelta(seconds=delay)
        fields.append("next_attempt_at")
    current.save(update_fields=fields)
    if current.status == DeliveryStatus.PENDING:
        delivery_id = str(current.pk)
        transaction.on_commit(lambda: outbox.enqueue([delivery_id], countdown=delay))
    return str(current.status)


def deliveries_requeue(*, stale_after: float | None = None, due_grace: float = 5.0, limit: int = 1000) -> int:
    """The sweep (beat): hand out again deliveries whose worker was lost mid-attempt (`delivering` for longer than
    `stale_after`) and pending ones that are due but whose task is missing (lost enqueue). Returns how many."""
    stale_after = conf.stale_after_seconds() if stale_after is None else stale_after
    now = timezone.now()
    recovered = _recover_stale(now - timedelta(seconds=stale_after), limit)
    due = list(
        WebhookDelivery.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=now - timedelta(seconds=due_grace)
        )
        .exclude(pk__in=recovered)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    ids = recovered + [str(pk) for pk in due]
    outbox.enqueue(ids)
    return len(ids)


@transaction.atomic(durable=True)
def _recover_stale(cutoff: datetime, limit: int) -> list[str]:
    # SKIP LOCKED: two sweeps never fight over the same rows.
    stale = list(
        WebhookDelivery.objects.select_for_update(skip_locked=True).filter(
            status=DeliveryStatus.DELIVERING, last_attempt_at__lt=cutoff
        )[:limit]
    )
    now = timezone.now()
    attempts = []
    recovered = []
    for delivery in stale:
        error = "no result: the worker was lost during the attempt"
        attempts.append(
            WebhookAttempt(
                tenant_id=delivery.tenant_id,
                delivery=delivery,
                number=delivery.attempts,
                at=delivery.last_attempt_at or now,
                error=error,
            )
        )
        delivery.last_error = error
        delivery.last_status_code = None
        if delivery.attempts >= conf.max_attempts():
            delivery.status = DeliveryStatus.FAILED
        else:
            delivery.status = DeliveryStatus.PENDING
            delivery.next_attempt_at = now
            recovered.append(str(delivery.pk))
        delivery.save(update_fields=["status", "next_attempt_at", "last_error", "last_status_code"])
    WebhookAttempt.objects.bulk_create(attempts)
    if recovered:
        logger.warning("requeued %d webhook deliveries whose worker was lost", len(recovered))
    return recovered
