"""Appending to a tenant's audit chain: `record()` runs inside the caller's transaction.

Cost on PostgreSQL: ONE statement per event, a data-modifying CTE:
    WITH h AS (UPDATE head SET last_seq = last_seq + 1, prev_hash = last_hash,
                      last_hash = encode(sha256(<prefix> || last_hash || <mid> || (last_seq + 1) || <suffix>), 'hex')
               WHERE tenant_id = … RETURNING last_seq, prev_hash, last_hash)
    INSERT INTO event (…, seq, prev_hash, hash) SELECT …, h.* FROM h RETURNING id, seq, prev_hash, hash
The event's canonical JSON (`hashing.canonical`, keys sorted) has `"prev_hash":"…","seq":N` next to each other, so
Python renders everything but those two values (prefix, mid, suffix) and PostgreSQL's `sha256()` finishes the hash
from the head row it has just locked. The UPDATE takes the head row lock: a concurrent append of the same tenant
blocks until this transaction ends, then PostgreSQL re-evaluates the SET expressions on the committed row (READ
COMMITTED), so numbers have neither gaps nor duplicates and each event links to the one before. `prev_hash` on the
head row is scratch space: the only way for an UPDATE's RETURNING to hand back the value it replaced. Python
recomputes the hash from what came back and refuses (rolls back) a mismatch, so the chain never depends on SQL and
Python agreeing silently. Why it matters: the head row lock is held from this statement to COMMIT, and every write of
the tenant (each version's creation and its registration) queues on it.

Other databases (SQLite, the embedded default, which serialises writers anyway) and the odd event whose content
contains the split markers take the two-step path: `UPDATE … RETURNING` for the seq and previous hash, then the insert
and the head's new hash.

The head row is created with the tenant's first event (an `INSERT … ON CONFLICT DO NOTHING` when the UPDATE finds
no row, then the append again), so tenants created before this code, or by any path, need nothing else.

Locking order: callers lock and write their own rows first and call `record()` last (through `events.emit`), so the
head lock is always the last lock a service takes."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from django.db import connections, router, transaction
from django.utils import timezone

from .hashing import CURRENT_HASH_VERSION, canonical, compute_hash, event_content, normalise_json


def _actor_name(actor: Any) -> str:
    if actor is None:
        return "system"
    return getattr(actor, "username", None) or str(actor)


def _jsonable(value: Any) -> Any:
    import json

    if value is None:
        return None
    return normalise_json(json.loads(json.dumps(value, default=str)))


def _advance_head(connection, tenant_id: int) -> tuple[int, str]:
    """Allocate the next seq under the head row lock; return it with the previous event's hash."""
    from ..models import AuditChainHead

    qn = connection.ops.quote_name
    sql = (
        f"UPDATE {qn(AuditChainHead._meta.db_table)} SET {qn('last_seq')} = {qn('last_seq')} + 1 "
        f"WHERE {qn('tenant_id')} = %s RETURNING {qn('last_seq')}, {qn('last_hash')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [tenant_id])
        row = cursor.fetchone()
        if row is None:  # the tenant's first event: create its head, then allocate as usual
            _create_head(connection, tenant_id)
            cursor.execute(sql, [tenant_id])
            row = cursor.fetchone()
    return int(row[0]), str(row[1])


def _insert_and_store_hash(connection, event) -> None:
    """Insert `event` and make its hash the head's last hash (one statement on PostgreSQL)."""
    from ..models import AuditChainHead, AuditEvent

    if connection.vendor != "postgresql":
        event.save(using=connection.alias, force_insert=True)
        AuditChainHead.objects.using(connection.alias).filter(tenant_id=event.tenant_id).update(
            last_hash=event.hash
        )
        return
    qn = connection.ops.quote_name
    fields = [f for f in AuditEvent._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(qn(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    params = [f.get_db_prep_save(getattr(event, f.attname), connection) for f in fields]
    head = qn(AuditChainHead._meta.db_table)
    pk = qn(AuditEvent._meta.pk.column)
    sql = (
        f"WITH ev AS (INSERT INTO {qn(AuditEvent._meta.db_table)} ({columns}) VALUES ({placeholders}) "
        f"RETURNING {pk}) "
        f"UPDATE {head} SET {qn('last_hash')} = %s WHERE {qn('tenant_id')} = %s RETURNING (SELECT {pk} FROM ev)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, event.hash, event.tenant_id])
        event.pk = cursor.fetchone()[0]
    event._state.adding = False
    event._state.db = connection.alias


def _split_canonical(event) -> tuple[bytes, bytes, bytes] | None:
    """The event's canonical JSON around its prev_hash and seq values: (prefix, mid, suffix) such that the hashed
    bytes are `prefix + prev_hash + mid + str(seq) + suffix`; None if the markers are not found exactly once."""
    marker = uuid.uuid4().hex
    prev_marker, seq_marker = f"<prev {marker}>", f"<seq {marker}>"
    content = event_content(event)
    content["prev_hash"], content["seq"] = prev_marker, seq_marker
    joint = f'"prev_hash":"{prev_marker}","seq":"{seq_marker}"'.encode()
    parts = canonical(content).split(joint)
    if len(parts) != 2:
        return None
    return parts[0] + b'"prev_hash":"', b'","seq":', parts[1]


def _append_in_one_statement(connection, event, pieces: tuple[bytes, bytes, bytes]) -> bool:
    """Allocate the seq, link, hash and insert `event` in one statement (PostgreSQL). False when the tenant has no
    head row yet (nothing was written)."""
    from ..models import AuditChainHead, AuditEvent

    qn = connection.ops.quote_name
    chained = {"seq", "prev_hash", "hash"}
    fields = [f for f in AuditEvent._meta.concrete_fields if not f.primary_key and f.name not in chained]
    columns = ", ".join(qn(f.column) for f in fields)
    # Explicit casts: an untyped literal in INSERT … SELECT is resolved as text before it meets its column.
    values = ", ".join(f"CAST(%s AS {f.db_type(connection)})" for f in fields)
    params = [f.get_db_prep_save(getattr(event, f.attname), connection) for f in fields]
    head, table = qn(AuditChainHead._meta.db_table), qn(AuditEvent._meta.db_table)
    last_seq, last_hash, prev = qn("last_seq"), qn("last_hash"), qn("prev_hash")
    sql = (
        f"WITH h AS (UPDATE {head} SET {last_seq} = {last_seq} + 1, {prev} = {last_hash}, "
        f"{last_hash} = encode(sha256(%s::bytea || convert_to({last_hash}, 'UTF8') || %s::bytea "
        f"|| convert_to(({last_seq} + 1)::text, 'UTF8') || %s::bytea), 'hex') "
        f"WHERE {qn('tenant_id')} = %s RETURNING {last_seq}, {prev}, {last_hash}) "
        f"INSERT INTO {table} ({columns}, {qn('seq')}, {qn('prev_hash')}, {qn('hash')}) "
        f"SELECT {values}, h.{last_seq}, h.{prev}, h.{last_hash} FROM h "
        f"RETURNING {qn(AuditEvent._meta.pk.column)}, {qn('seq')}, {qn('prev_hash')}, {qn('hash')}"
    )
    prefix, mid, suffix = pieces
    with connection.cursor() as cursor:
        cursor.execute(sql, [prefix, mid, suffix, event.tenant_id, *params])
        row = cursor.fetchone()
    if row is None:
        return False
    event.pk, event.seq, event.prev_hash, event.hash = int(row[0]), int(row[1]), str(row[2]), str(row[3])
    # The same bytes hashed here: a disagreement (an encoding or rendering difference) must never reach the chain.
    expected = hashlib.sha256(prefix + event.prev_hash.encode() + mid + str(event.seq).encode() + suffix)
    if expected.hexdigest() != event.hash or compute_hash(event) != event.hash:
        raise RuntimeError(f"audit chain: the database computed another hash for seq {event.seq}")
    event._state.adding = False
    event._state.db = connection.alias
    return True


def _create_head(connection, tenant_id: int) -> None:
    from ..models import AuditChainHead

    AuditChainHead.objects.using(connection.alias).bulk_create(
        [AuditChainHead(tenant_id=tenant_id)], ignore_conflicts=True
    )


def record(
    *,
    tenant: Any,
    actor: Any,
    action: str,
    obj: Any,
    before: dict | None = None,
    after: dict | None = None,
    model_id: int | None = None,
    version: int | None = None,
):
    """Append an audit event to `tenant`'s chain. Must run inside the service's transaction."""
    from ..models import AuditEvent

    alias = router.db_for_write(AuditEvent)
    connection = connections[alias]
    if not transaction.get_connection(alias).in_atomic_block:
        raise RuntimeError("audit.record() must be called inside the service's transaction")
    user = actor if getattr(actor, "pk", None) and hasattr(actor, "username") else None
    event = AuditEvent(
        tenant_id=tenant.pk,
        seq=0,  # allocated with the head row lock (below)
        created_at=timezone.now(),
        actor_id=user.pk if user is not None else None,
        actor_name=_actor_name(actor)[:256],
        action=action,
        object_type=obj._meta.model_name if hasattr(obj, "_meta") else type(obj).__name__.lower(),
        object_id=str(getattr(obj, "pk", "") or "")[:100],
        object_repr=str(obj)[:500],
        model_id=model_id,
        version=version,
        before=_jsonable(before),
        after=_jsonable(after),
        prev_hash="",
        hash_version=CURRENT_HASH_VERSION,
    )
    pieces = _split_canonical(event) if connection.vendor == "postgresql" else None
    if pieces is not None:
        if _append_in_one_statement(connection, event, pieces):
            return event
        _create_head(connection, tenant.pk)  # the tenant's first event
        if _append_in_one_statement(connection, event, pieces):
            return event
        raise RuntimeError(f"audit chain: no head row for tenant {tenant.pk}")
    event.seq, event.prev_hash = _advance_head(connection, tenant.pk)
    event.hash = compute_hash(event)
    _insert_and_store_hash(connection, event)
    return event
