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


def test_every_beat_entry_names_a_registered_task_that_accepts_its_arguments():
    """Beat sends by name: a name on the wrong function (or none) fails only at run time, every few minutes."""
    import inspect

    from config.celery_app import app

    app.loader.import_default_modules()
    for key, entry in app.conf.beat_schedule.items():
        task = app.tasks.get(entry["task"])
        assert task is not None, f"beat entry {key!r}: no task named {entry['task']!r}"
        inspect.signature(task.run).bind(*entry.get("args", ()), **entry.get("kwargs", {}))
