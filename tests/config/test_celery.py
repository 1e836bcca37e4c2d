"""Celery: JSON only, late acks, tasks rejected when a worker dies, time limits; and a real round trip through a
`celery -A config worker` process on Redis (the `worker` fixture)."""

from __future__ import annotations

import pytest

from config.celery_app import app


def test_the_app_speaks_json_only():
    assert app.conf.task_serializer == "json"
    assert app.conf.result_serializer == "json"
    assert list(app.conf.accept_content) == ["json"]


def test_tasks_are_acknowledged_late_and_requeued_when_a_worker_dies():
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    # Redis redelivers an unacknowledged task after the visibility timeout: it must outlast the longest task.
    assert app.conf.broker_transport_options["visibility_timeout"] > app.conf.task_time_limit


def test_tasks_have_time_limits():
    assert 0 < app.conf.task_soft_time_limit < app.conf.task_time_limit


def test_the_broker_is_redis_and_celery_never_runs_eagerly(settings):
    assert app.conf.broker_url.startswith("redis://")
    assert app.conf.broker_url == settings.REDIS_URL or app.conf.broker_url == settings.CELERY_BROKER_URL
    assert app.conf.task_always_eager is False


def test_the_ping_task_is_registered_by_name():
    assert "modelgate.ping" in app.tasks


@pytest.mark.django_db(transaction=True)
def test_a_task_round_trips_through_a_real_worker(worker):
    from registry.tasks import ping

    result = ping.delay("hello")
    assert result.get(timeout=30) == "hello"
    assert result.status == "SUCCESS"
