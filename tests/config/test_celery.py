"""Celery: a real round trip through a `celery -A config worker` process on Redis (the `worker` fixture). What the
app's configuration is for (late acks, redelivery when a worker dies mid-task) is exercised by
tests/registry/test_registration_worker.py."""

from __future__ import annotations

import pytest


@pytest.mark.django_db(transaction=True)
def test_a_task_round_trips_through_a_real_worker(worker):
    from registry.tasks import ping

    result = ping.delay("hello")
    assert result.get(timeout=30) == "hello"
    assert result.status == "SUCCESS"
