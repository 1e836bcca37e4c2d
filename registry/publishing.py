"""Publishing Celery work from a request without ever waiting on a broker that is down.

Every publisher (registration, approved transition requests, webhook deliveries) calls `publish()` from
`transaction.on_commit`. Publishing itself is bounded (config/celery_app.py: short connect timeouts, one quick
retry, no result subscription); on top of that, after one failure this process does not ask the broker again for
`BACKOFF_SECONDS`, so a burst of changes during an outage costs one timeout, not one per task. Whatever is not
published stays in the database (a PENDING version, an `approved` request, a pending delivery) and the periodic
re-enqueue tasks (beat) publish it once the broker is back."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from config.celery_app import app as celery_app

logger = logging.getLogger(__name__)

BACKOFF_SECONDS = 5.0
_broker_down_until = 0.0


def broker_known_down() -> bool:
    """Whether this process saw the broker fail within the last `BACKOFF_SECONDS`."""
    return time.monotonic() < _broker_down_until


def publish(task_name: str, args: Sequence[Any], *, countdown: float | None = None) -> bool:
    """Send `task_name(*args)` by name (publishers never import task modules). True when sent; False when the broker
    is down (now, or lately in this process): the caller's row stays for the periodic re-enqueue."""
    global _broker_down_until
    if broker_known_down():
        return False
    try:
        celery_app.send_task(task_name, args=list(args), countdown=countdown or None)
    except Exception:  # any publishing failure: the periodic re-enqueue recovers the work
        _broker_down_until = time.monotonic() + BACKOFF_SECONDS
        logger.warning(
            "could not publish %s%r; the periodic re-enqueue will", task_name, tuple(args), exc_info=True
        )
        return False
    return True
