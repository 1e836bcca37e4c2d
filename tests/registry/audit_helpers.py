"""Helpers of the audit tests (no tests here): tampering as an attacker with database rights would, and a few
events appended without any service."""

from __future__ import annotations

from contextlib import contextmanager

from django.db import connection, transaction

from registry import events
from registry.models import AuditEvent

EVENT_TRIGGER = ("registry_auditevent", "auditevent_append_only")
HEAD_TRIGGER = ("registry_auditchainhead", "auditchainhead_forward_only")


@contextmanager
def triggers_disabled():
    """What an attacker who owns the tables does first: switch the append-only triggers off (then back on)."""
    with connection.cursor() as cursor:
        # Inside the test's transaction, deferred foreign-key checks of earlier inserts are still pending, and
        # PostgreSQL refuses ALTER TABLE until they have run.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table, trigger in (EVENT_TRIGGER, HEAD_TRIGGER):
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for table, trigger in (EVENT_TRIGGER, HEAD_TRIGGER):
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def tamper(sql: str, params: list) -> int:
    with triggers_disabled(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def append(tenant, n: int, *, actor=None, action: str = "test.event") -> list[AuditEvent]:
    """Append `n` events to `tenant`'s chain, each in its own transaction (as services do)."""
    appended = []
    for i in range(n):
        with transaction.atomic():
            appended.append(
                events.emit(tenant=tenant, actor=actor, action=action, obj=tenant, after={"i": i, "auc": 0.5})
            )
    return appended


def last_seq(tenant) -> int:
    return (
        AuditEvent.objects.filter(tenant=tenant).order_by("-seq").values_list("seq", flat=True).first() or 0
    )
