"""A Redis connection for work that must never slow or fail a request (the read cache, usage counters).

Sub-second socket timeouts and no retries; after a failure this process leaves Redis alone for `backoff` seconds,
so an outage costs at most one timeout per process every few seconds. Callers treat "no client" as a miss."""

from __future__ import annotations

import time

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry


class FailFastRedis:
    def __init__(self, *, timeout: float = 0.2, backoff: float = 5.0) -> None:
        self.timeout = timeout
        self.backoff = backoff
        self._pool: redis.ConnectionPool | None = None
        self._client: redis.Redis | None = None  # built once per pool: redis.Redis() costs tens of µs
        self._down_until = 0.0

    def connect(self, url: str | None = None) -> redis.ConnectionPool:
        """(Re)build the pool (default `settings.REDIS_URL`; tests point it elsewhere) and forget past failures."""
        self._pool = redis.ConnectionPool.from_url(
            url or settings.REDIS_URL,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
            health_check_interval=0,
        )
        self._client = None
        self._down_until = 0.0
        return self._pool

    def is_down(self) -> bool:
        return time.monotonic() < self._down_until

    def client(self) -> redis.Redis | None:
        """A client, or None while backing off after a failure."""
        return None if self.is_down() else self.raw()

    def raw(self) -> redis.Redis:
        """A client whatever the back-off (for work that must try anyway, e.g. an invalidation)."""
        client = self._client
        if client is None or client.connection_pool is not self._pool:
            client = self._client = redis.Redis(connection_pool=self._pool or self.connect())
        return client

    def failed(self) -> None:
        """Record a failure: back off for `backoff` seconds."""
        self._down_until = time.monotonic() + self.backoff
