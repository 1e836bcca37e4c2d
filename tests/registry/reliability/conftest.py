"""Fixtures of the reliability tests: a second, throwaway Redis the test can stop and start again (the suite's own
Redis stays up for everyone else), with the Celery app, the cache and the usage counters pointed at it; and a
private Celery worker whose environment the test chooses (a short visibility timeout, another broker)."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis

from config.celery_app import app
from registry import publishing, usage
from registry.services import registration
from tests.helpers import Worker, free_port, start_worker, stop_worker


class ThrowawayRedis:
    """`redis-server` on a port of its own, in the foreground of a subprocess: stop() kills it, start() brings it
    back on the same port (empty: an outage that lost the queue is the harder case)."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            cwd=self.dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("the throwaway redis-server did not come up")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


def point_celery_at(url: str, result_backend: str) -> None:
    """Make this process publish to `url` and keep results in `result_backend` (in production both are the one
    Redis): the app caches its pools and backend, so drop its references (private attributes:
    Celery has no public way to re-point a configured app). Nothing is closed: kombu keeps producer pools in a
    global registry per broker URL, and the pool of the suite's own Redis is used again when the test ends."""
    celery: Any = app
    celery.conf.broker_url = url
    celery.conf.result_backend = result_backend
    celery._pool = None
    celery.amqp._producer_pool = None
    celery._backend_cache = None
    if hasattr(celery._local, "backend"):
        del celery._local.backend


@pytest.fixture
def outage_redis(tmp_path, settings):
    """A throwaway Redis, running, with this process's Celery publishing, cache and usage counters on it."""
    from django.conf import settings as live

    server = ThrowawayRedis(tmp_path)
    server.start()
    broker = live.CELERY_BROKER_URL
    results = app.conf.result_backend
    settings.CELERY_BROKER_URL = server.url
    settings.REDIS_URL = server.url
    settings.CACHES = {
        "default": {**live.CACHES["default"], "LOCATION": server.url},
    }
    point_celery_at(server.url, server.url)
    usage.connect(server.url)
    try:
        yield server
    finally:
        server.stop()
        publishing._broker_down_until = 0.0  # the publish backoff must not outlive the outage
        registration._unpublished.clear()
        point_celery_at(broker, results)
        usage.connect(broker)


def _start_private_worker(tmp_path: Path, queue: str, **env_overrides: str) -> Worker:
    """A worker on a queue of its own, with extra environment (CELERY_VISIBILITY_TIMEOUT, REDIS_URL, …). It may use
    another broker than this process: wait for its "ready" line instead of a control ping."""
    return start_worker(
        tmp_path,
        concurrency=1,
        name=f"rel{uuid.uuid4().hex[:6]}",
        env=env_overrides,
        queue=queue,
        ready_by_log=True,
    )


@pytest.fixture
def private_worker(tmp_path):
    """`start(queue, **env)` → a running worker on `queue` (stopped, killed if need be, after the test)."""
    started: list[Worker] = []

    def start(queue: str, **env: str) -> Worker:
        worker = _start_private_worker(tmp_path, queue, **env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        stop_worker(worker, kill=True)
