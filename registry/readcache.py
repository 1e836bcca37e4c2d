"""Serving answers (version by alias, latest versions by stage, version by number) cached in Redis, never stale
after a committed change.

Every entry's key carries the tenant's registry *generation*, a Redis counter bumped after the commit of every
registry event about a model (stage, alias, version created/ready/deleted, tags, description, rename, delete,
owner, grants: `registry.events` subscriber below, `transaction.on_commit`). A service returns only after its
on-commit callbacks ran, so once a promotion has returned, every later read sees the new generation and misses
the old entries. A reader reads the generation BEFORE the database: if a change commits in between, the reader
may store the old answer, but under the old generation, which nobody asks for any more.

What is cached is the version data and the model's id and owner team, never an authorization decision: each hit
runs the usual permission check (`permissions.allows`) for the caller, whose principal is read fresh (or, on the
serving fast path, `registry.fastpath`, remembered under auth generations that every change to a caller moves).

Redis trouble never fails a read: short timeouts, no retries, every error swallowed (the read goes to the
database), and after a failure Redis is not asked again for a second (`config.fastredis`). A bump that fails is kept and
retried before this process reads the cache again (until it lands, this process does not use the cache). The one
case left: Redis fails exactly at a bump and recovers before that process's next request; other processes may
then serve the previous answer until the retry lands or the entry expires (`ENTRY_TTL_SECONDS`)."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import redis
from django.conf import settings
from django.db import transaction

from config.fastredis import FailFastRedis

from . import events
from .models import AuditEvent

logger = logging.getLogger(__name__)

ENTRY_TTL_SECONDS = 30
# Back off 1 s, not 5, after a failure: on a loaded machine a lone slow reply (a timeout of 0.2 s) is far more
# common than an outage, and each back-off sends every serving read of the process to the database meanwhile.
_redis = FailFastRedis(backoff=1.0)
_pending_bumps: set[int] = (
    set()
)  # tenants whose bump failed: retried before this process reads the cache again


def connect(url: str | None = None) -> redis.ConnectionPool:
    return _redis.connect(url)


def _client() -> redis.Redis | None:
    return _redis.client()


def _failed(exc: Exception) -> None:
    _redis.failed()
    logger.warning("read cache: Redis unavailable (%s); reading from the database", exc)


def _prefix() -> str:
    return f"{settings.CACHES['default'].get('KEY_PREFIX') or 'modelgate'}:rc"


def _generation_key(tenant_id: int) -> str:
    return f"{_prefix()}:gen:{tenant_id}"


def _entry_key(tenant_id: int, generation: str, kind: str, parts: tuple[str, ...]) -> str:
    before, after = entry_key_around(tenant_id, kind, parts)
    return f"{before}{generation}{after}"


_keys_around: dict[tuple[int, str, tuple[str, ...]], tuple[str, str]] = {}


def entry_key_around(tenant_id: int, kind: str, parts: tuple[str, ...]) -> tuple[str, str]:
    """An entry's key without its generation: (what comes before it, what comes after it), for a reader that
    reads the generation and the entry in one Redis script (`registry.fastpath`). Remembered: the same few
    questions are asked all day."""
    memo = (tenant_id, kind, parts)
    found = _keys_around.get(memo)
    if found is None:
        digest = hashlib.sha256(json.dumps(parts).encode()).hexdigest()
        found = (f"{_prefix()}:{tenant_id}:", f":{kind}:{digest}")
        if sum(len(part) for part in parts) <= 500:  # bounded memory whatever callers send
            if len(_keys_around) >= 10_000:
                _keys_around.clear()
            _keys_around[memo] = found
    return found


def generation_key(tenant_id: int) -> str:
    return _generation_key(tenant_id)


def client() -> redis.Redis | None:
    """The read cache's fail-fast client, or None while it backs off after a failure."""
    return _client()


def failed(exc: Exception) -> None:
    _failed(exc)


def has_pending() -> bool:
    """A bump failed and is still to be retried: until then this process must not answer from the cache."""
    return bool(_pending_bumps)


def generation(tenant_id: int) -> str | None:
    """The tenant's current generation ("0" before any change), or None when Redis cannot be asked."""
    client = _client()
    if client is None:
        return None
    try:
        while _pending_bumps:
            pending = next(iter(_pending_bumps))
            client.incr(_generation_key(pending))
            _pending_bumps.discard(pending)
        value = client.get(_generation_key(tenant_id))
    except redis.RedisError as exc:
        _failed(exc)
        return None
    if value is None:
        return "0"
    return value.decode() if isinstance(value, bytes) else str(value)


def get(tenant_id: int, generation: str, kind: str, parts: tuple[str, ...]) -> dict[str, Any] | None:
    client = _client()
    if client is None:
        return None
    try:
        raw = client.get(_entry_key(tenant_id, generation, kind, parts))
    except redis.RedisError as exc:
        _failed(exc)
        return None
    return json.loads(raw) if raw is not None else None


def put(tenant_id: int, generation: str, kind: str, parts: tuple[str, ...], entry: dict[str, Any]) -> None:
    client = _client()
    if client is None:
        return
    try:
        client.set(_entry_key(tenant_id, generation, kind, parts), json.dumps(entry), ex=ENTRY_TTL_SECONDS)
    except redis.RedisError as exc:
        _failed(exc)


WIRE_SUFFIX = ".wire"


def put_wire(
    tenant_id: int,
    generation: str,
    kind: str,
    parts: tuple[str, ...],
    *,
    model_id: int,
    owner_team_id: int | None,
    versions: list[int],
    body: bytes,
) -> None:
    """Store a serving answer as the bytes sent (`registry.fastpath`), under the generation read before the
    database: `<model id>|<owner team id>|<v1,v2,…>` on the first line (for the permission check and the usage
    counters, never a decision), the response body after it."""
    client = _client()
    if client is None:
        return
    head = f"{model_id}|{owner_team_id or ''}|{','.join(str(v) for v in versions)}\n".encode()
    try:
        client.set(
            _entry_key(tenant_id, generation, kind + WIRE_SUFFIX, parts), head + body, ex=ENTRY_TTL_SECONDS
        )
    except redis.RedisError as exc:
        _failed(exc)


def bump(tenant_id: int) -> None:
    """Move the tenant to a new generation: every entry cached so far is out of reach. Tried even while reads
    back off, and twice, because a lost bump is the only way to a stale answer."""
    client = _redis.raw()
    for attempt in (1, 2):
        try:
            client.incr(_generation_key(tenant_id))
            return
        except redis.RedisError as exc:
            if attempt == 2:
                _pending_bumps.add(tenant_id)
                _failed(exc)


@events.subscribe
def _invalidate_on_commit(event: AuditEvent) -> None:
    """Runs in the service's transaction; the bump waits for the commit (before it, a reader could cache the
    old rows under the new generation)."""
    if event.model_id is None:  # tracking, artifacts, tenant changes: no cached answer depends on them
        return
    tenant_id = event.tenant_id
    transaction.on_commit(lambda: bump(tenant_id))
