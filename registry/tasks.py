"""Celery tasks. Each takes ids, has an explicit name, and calls a service; see the services for idempotency."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="modelgate.ping")
def ping(value: str = "pong") -> str:
    """Round trip through the broker and a worker (used by health checks and tests)."""
    return value
