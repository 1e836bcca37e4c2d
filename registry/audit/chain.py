"""Appending to a tenant's audit chain: `record()` runs inside the caller's transaction.

Cost on PostgreSQL: two statements per event.
1. `UPDATE head SET last_seq = last_seq + 1 … RETURNING last_seq, last_hash` takes the head row lock and hands back
   the new sequence number with the previous hash, atomically. A concurrent append of the same tenant blocks on
   the row lock until this transaction ends, then re-reads the committed row (READ COMMITTED re-evaluates an
   UPDATE's target row), so numbers have neither gaps nor duplicates, and each event links to the one before.
2. One statement inserts the event and stores its hash in the head: a data-modifying CTE
   (`WITH ev AS (INSERT … RETURNING id) UPDATE head SET last_hash = … RETURNING (SELECT id FROM ev)`).
The hash is computed in Python between the two (it needs the previous hash and the new seq), so one statement
cannot do it all. Other databases (SQLite, the embedded default, which serialises writers anyway) run the insert
and the head update as two statements.

The head row is created with the tenant's first event (an `INSERT … ON CONFLICT DO NOTHING` when the UPDATE finds
no row, then the UPDATE again), so tenants created before this code, or by any path, need nothing else.

Locking order: callers lock and write their own rows first and call `record()` last (through `events.emit`), so the
head lock is always the last lock a service takes."""

from __future__ import annotations

from typing import Any

from django.db import connections, router, transaction
from django.utils import timezone

from .hashing import CURRENT_HASH_VERSION, compute_hash, normalise_json


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
            AuditChainHead.objects.using(connection.alias).bulk_create(
                [AuditChainHead(tenant_id=tenant_id)], ignore_conflicts=True
            )
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
    seq, prev_hash = _advance_head(connection, tenant.pk)
    event = AuditEvent(
        tenant_id=tenant.pk,
        seq=seq,
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
        prev_hash=prev_hash,
        hash_version=CURRENT_HASH_VERSION,
    )
    event.hash = compute_hash(event)
    _insert_and_store_hash(connection, event)
    return event
