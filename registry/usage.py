"""Usage counters: which principals resolved or downloaded a version, per day (UTC), kept off the hot path.

A read calls `record_use(principal, version, kind)`: one Redis `HINCRBY` on the version's hash for the day
(`<prefix>:usage:<tenant>:<model>:<version>:<YYYY-MM-DD>`, field `<kind>:<username>`). It never fails and never
slows the read: short socket timeouts, no retries, every Redis error swallowed, and after a failure Redis is not
asked again for a few seconds (`config.fastredis`) (so an outage costs at most one timeout per process per few seconds).

`flush()` (beat task `modelgate.flush_usage_counters`) moves the counters into `VersionUsage`: it RENAMEs each live
hash to a batch key first (atomic: later increments start a fresh hash, none is lost or counted twice), reads the
batch, adds it to the table in one transaction that also records the batch key (`UsageFlushBatch`), and only then
deletes the batch from Redis. A flush that dies midway leaves the batch key behind; the next one picks it up, and
the recorded key keeps it from being added twice.

Why a raw client and not Django's cache: the cache API has no HINCRBY/RENAME, and its client retries."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import defaultdict
from typing import Any, NamedTuple, Protocol

import redis
from django.conf import settings
from django.db import IntegrityError, connection, transaction

from config.fastredis import FailFastRedis

logger = logging.getLogger(__name__)

KINDS = ("resolve", "download")
FLUSH_TASK = "modelgate.flush_usage_counters"
FLUSH_INTERVAL_SECONDS = 60.0
PENDING_DAYS = 7  # how many recent days of not-yet-flushed counters a reader looks at
BATCH_RETENTION = dt.timedelta(days=2)  # recorded batch keys older than this can no longer come back

_redis = FailFastRedis()


class VersionLike(Protocol):
    @property
    def model_id(self) -> int: ...

    @property
    def version(self) -> int: ...


class VersionRef(NamedTuple):
    """A version by model id and number, for callers that do not hold the ModelVersion row."""

    model_id: int
    version: int


def connect(url: str | None = None) -> redis.ConnectionPool:
    """(Re)build the module's connection pool (default: `settings.REDIS_URL`); tests point it elsewhere."""
    return _redis.connect(url)


def client() -> redis.Redis:
    """A client even while counting backs off (the flush task's own retries handle an outage)."""
    return _redis.raw()


def _prefix() -> str:
    return f"{settings.CACHES['default'].get('KEY_PREFIX') or 'modelgate'}:usage"


def live_key(tenant_id: int, model_id: int, version: int, day: dt.date) -> str:
    return f"{_prefix()}:{tenant_id}:{model_id}:{version}:{day.isoformat()}"


def live_key_around(tenant_id: int, day: dt.date) -> tuple[str, str]:
    """`live_key` without its model and version: (before, after), for a Redis script that counts a cached
    answer's versions (`registry.fastpath`)."""
    return f"{_prefix()}:{tenant_id}:", f":{day.isoformat()}"


def today() -> dt.date:
    return _today()


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def record_use(principal: Any, version: VersionLike, kind: str) -> None:
    """Count one resolve or download of `version` by `principal` today. Never raises for Redis trouble."""
    if kind not in KINDS:
        raise ValueError(f"unknown usage kind {kind!r}")
    if _redis.is_down():
        return
    username = getattr(principal.user, "username", "") or "anonymous"
    key = live_key(principal.tenant.pk, version.model_id, version.version, _today())
    try:
        client().hincrby(key, f"{kind}:{username}", 1)
    except Exception:  # any failure at all: counting must never fail or slow the read that serves a model
        _redis.failed()
        logger.warning("usage counter not recorded (Redis unavailable)", exc_info=True)


def _parse_fields(raw: dict[Any, Any]) -> dict[str, list[int]]:
    """`{b"resolve:alice": b"2"}` → `{"alice": [resolves, downloads]}`."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for field, value in raw.items():
        text = field.decode() if isinstance(field, bytes) else str(field)
        kind, _, username = text.partition(":")
        if kind in KINDS and username:
            counts[username][KINDS.index(kind)] += int(value)
    return dict(counts)


def pending(tenant_id: int, model_id: int, version: int) -> dict[tuple[dt.date, str], list[int]] | None:
    """Counters of the last `PENDING_DAYS` days not flushed yet: `{(day, username): [resolves, downloads]}`;
    None when Redis cannot be read (the caller shows the flushed rows only)."""
    if _redis.is_down():
        return None
    today = _today()
    days = [today - dt.timedelta(days=n) for n in range(PENDING_DAYS)]
    try:
        pipe = client().pipeline(transaction=False)
        for day in days:
            pipe.hgetall(live_key(tenant_id, model_id, version, day))
        results = pipe.execute()
    except Exception:  # a Redis outage must not fail the provenance page either
        _redis.failed()
        logger.warning("pending usage counters not read (Redis unavailable)", exc_info=True)
        return None
    found: dict[tuple[dt.date, str], list[int]] = {}
    for day, raw in zip(days, results, strict=True):
        for username, pair in _parse_fields(raw or {}).items():
            found[(day, username)] = pair
    return found


# --- flush -------------------------------------------------------------------------------------------------------


def _parse_key(key: str) -> tuple[int, int, int, dt.date] | None:
    """`…:<tenant>:<model>:<version>:<day>` (the last four parts of a live or batch key)."""
    parts = key.rsplit(":", 4)
    if len(parts) != 5:
        return None
    try:
        return int(parts[1]), int(parts[2]), int(parts[3]), dt.date.fromisoformat(parts[4])
    except ValueError:
        return None


def _upsert(tenant_id: int, model_id: int, version: int, day: dt.date, counts: dict[str, list[int]]) -> None:
    """Add counts to VersionUsage rows in one statement (INSERT … ON CONFLICT DO UPDATE adds; PostgreSQL and SQLite
    both speak it). Written by hand because Django's `update_conflicts` can only overwrite, not add."""
    from .models import VersionUsage

    table = connection.ops.quote_name(VersionUsage._meta.db_table)
    rows = [(tenant_id, model_id, version, user, day, r, d) for user, (r, d) in sorted(counts.items())]
    for start in range(0, len(rows), 500):
        chunk = rows[start : start + 500]
        values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(chunk))
        sql = (
            f"INSERT INTO {table} (tenant_id, model_id, version, principal, day, resolves, downloads) "
            f"VALUES {values} ON CONFLICT (tenant_id, model_id, version, principal, day) DO UPDATE SET "
            f"resolves = {table}.resolves + excluded.resolves, downloads = {table}.downloads + excluded.downloads"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [v for row in chunk for v in row])


def _apply_batch(key: str, raw: dict[Any, Any]) -> bool:
    """Add one batch to the table unless it was added before. True when it was added now."""
    from tenants.models import Tenant

    from .models import UsageFlushBatch

    parsed = _parse_key(key)
    counts = _parse_fields(raw)
    try:
        # Short transaction: the batch marker and the counts commit together, so a retry never adds them twice.
        with transaction.atomic(durable=True):
            UsageFlushBatch.objects.create(key=key)
            if parsed is not None and counts and Tenant.objects.filter(pk=parsed[0]).exists():
                _upsert(*parsed, counts)
    except IntegrityError:
        return False  # recorded already (an earlier flush died before deleting it, or a concurrent flush won)
    return True


def flush() -> int:
    """Move every live counter hash into VersionUsage. Returns the number of batches added."""
    r = client()
    prefix = _prefix()
    batch_prefix = f"{prefix}-batch"
    for key in list(r.scan_iter(match=f"{prefix}:*", count=1000)):
        name = key.decode() if isinstance(key, bytes) else key
        if _parse_key(name) is None:
            continue
        target = f"{batch_prefix}:{uuid.uuid4().hex}:{name[len(prefix) + 1 :]}"
        try:
            r.rename(name, target)  # atomic: increments after this start a new live hash
        except redis.ResponseError:
            continue  # gone meanwhile: another flush took it
    added = 0
    for key in list(r.scan_iter(match=f"{batch_prefix}:*", count=1000)):
        name = key.decode() if isinstance(key, bytes) else key
        raw = r.hgetall(name)
        if raw and _apply_batch(name, raw):
            added += 1
        r.delete(name)  # only after the counts are committed
    from .models import UsageFlushBatch

    cutoff = dt.datetime.now(dt.UTC) - BATCH_RETENTION
    UsageFlushBatch.objects.filter(flushed_at__lt=cutoff).delete()
    return added


__all__ = ["KINDS", "VersionRef", "connect", "flush", "live_key", "pending", "record_use"]
