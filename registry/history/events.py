"""Reading one version's audit events: the stage transitions, alias moves and transition requests they record, and
whether they are intact in the tenant's hash chain.

Only event names and the keys services put in `before`/`after` are interpreted; keys an event does not carry read
as None, so events written before a feature existed (and kinds added later) still render."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db.models import Q

from registry import audit
from registry.models import AuditEvent, RegisteredModel

from .timetravel import ALIAS_DELETED, ALIAS_SET, STAGE_CHANGED

REQUEST_PREFIX = "transition_request."
GATE_FAILED = "gate.failed"
GENESIS_HASH = "0" * 64
# The status a request has after each kind of event (when the event does not say it outright).
REQUEST_STATUS = {
    "created": "pending",
    "approved": "approved",
    "rejected": "rejected",
    "cancelled": "cancelled",
    "applied": "applied",
    "failed": "failed",
    "gate_failed": "failed",  # a gate checked at apply time refused the promotion (unless the event says otherwise)
}


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _str_version(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def version_events(model: RegisteredModel, number: int) -> list[AuditEvent]:
    """Every event of version `number`, plus alias moves that took an alias away from it (those are recorded
    under the version the alias moved to). One query on the (tenant, model_id, …) indexes."""
    return list(
        AuditEvent.objects.filter(tenant_id=model.tenant_id, model_id=model.pk)
        .filter(Q(version=number) | Q(action=ALIAS_SET, before__version=number))
        .order_by("seq")
    )


def event_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "created_at": iso(event.created_at),
        "actor": event.actor_name,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "version": _str_version(event.version),
        "before": event.before,
        "after": event.after,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def stage_transitions(events: Iterable[AuditEvent]) -> list[dict[str, Any]]:
    """`model_version.stage_changed` events, with what promotions through requests and gates add to them."""
    transitions = []
    for event in events:
        if event.action != STAGE_CHANGED:
            continue
        before, after = event.before or {}, event.after or {}
        transitions.append(
            {
                "seq": event.seq,
                "from": before.get("stage"),
                "to": after.get("stage"),
                "actor": event.actor_name,
                "time": iso(event.created_at),
                "comment": after.get("comment") or None,
                "request_id": after.get("request_id"),
                "approvers": after.get("approvers") or [],
                "gate": after.get("gate"),
                "archived_by": after.get("archived_by"),
                "archived_versions": [str(v) for v in after.get("archived_versions") or []],
            }
        )
    return transitions


def alias_moves(events: Iterable[AuditEvent]) -> list[dict[str, Any]]:
    """Aliases set on, moved away from, or deleted from the version, oldest first."""
    moves = []
    for event in events:
        if event.action not in (ALIAS_SET, ALIAS_DELETED):
            continue
        before, after = event.before or {}, event.after or {}
        deleted = event.action == ALIAS_DELETED
        moves.append(
            {
                "seq": event.seq,
                "action": "deleted" if deleted else "set",
                "alias": (before if deleted else after).get("alias") or before.get("alias"),
                "from_version": _str_version(before.get("version")),
                "to_version": None if deleted else _str_version(after.get("version", event.version)),
                "actor": event.actor_name,
                "time": iso(event.created_at),
            }
        )
    return moves


def _request_id(event: AuditEvent) -> str | None:
    after, before = event.after or {}, event.before or {}
    for data in (after, before):
        for key in ("request_id", "id"):
            if data.get(key) not in (None, ""):
                return str(data[key])
    if "transition" in (event.object_type or "") and event.object_id:
        return event.object_id
    return None


def transition_requests(events: Iterable[AuditEvent]) -> list[dict[str, Any]]:
    """Transition requests of the version and their decisions, rebuilt from `transition_request.*` and
    `gate.failed` events (grouped by request id)."""
    requests: dict[str, dict[str, Any]] = {}
    for event in events:
        if not (event.action.startswith(REQUEST_PREFIX) or event.action == GATE_FAILED):
            continue
        rid = _request_id(event)
        if rid is None:
            continue
        after = event.after or {}
        kind = "gate_failed" if event.action == GATE_FAILED else event.action[len(REQUEST_PREFIX) :]
        request = requests.setdefault(
            rid,
            {
                "id": rid,
                "stage": None,
                "requester": None,
                "comment": None,
                "status": None,
                "created_at": None,
                "gate": None,
                "decisions": [],
            },
        )
        if kind == "created":
            request["requester"] = after.get("requester") or event.actor_name
            request["comment"] = after.get("comment") or None
            request["created_at"] = iso(event.created_at)
        request["stage"] = after.get("stage") or request["stage"]
        request["gate"] = after.get("gate", request["gate"])
        status = after.get("status") or REQUEST_STATUS.get(kind)
        if status:
            request["status"] = status
        request["decisions"].append(
            {
                "seq": event.seq,
                "action": kind,
                "actor": after.get("approver") or event.actor_name,
                "time": iso(event.created_at),
                "comment": after.get("comment") or None,
                "gate": after.get("gate_result", after.get("gate")),
            }
        )
    return list(requests.values())


def chain_status(tenant: Any, events: list[AuditEvent]) -> dict[str, Any]:
    """Whether the chain holding these events is intact: the tenant's whole chain verified against its latest
    signed checkpoint (`registry.audit.verify_chain`), and, cheaply, each listed event's own hash and its link to
    the event before it in the tenant's sequence (so a reader sees which of *these* events is bad)."""
    result = audit.verify_chain(tenant).as_dict()
    return {"scope": "tenant", **result, "these_events": _events_status(tenant, events)}


def _events_status(tenant: Any, events: list[AuditEvent]) -> dict[str, Any]:
    wanted = {e.seq - 1 for e in events if e.seq > 1}
    previous = dict(
        AuditEvent.objects.filter(tenant_id=tenant.pk, seq__in=wanted).values_list("seq", "hash")
        if wanted
        else []
    )
    first_bad = None
    for event in sorted(events, key=lambda e: e.seq):
        expected_prev = GENESIS_HASH if event.seq == 1 else previous.get(event.seq - 1)
        if event.prev_hash != expected_prev or audit.compute_hash(event) != event.hash:
            first_bad = event.seq
            break
    return {"ok": first_bad is None, "events": len(events), "first_bad_seq": first_bad}
