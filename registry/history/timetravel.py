"""Stages and aliases of a model as they were at a past moment, replayed from its audit events.

The events of one model are read in one indexed query (tenant, model_id, seq), only the kinds that move a stage or
an alias, up to the moment asked for, and replayed in sequence order. Times compare at microsecond precision
(ISO-8601) or at millisecond precision (epoch ms: every event within that millisecond counts); events at the very
same instant are ordered by their sequence number, which is the order they were committed in."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from config.errors import InvalidParameter
from registry import selectors
from registry.models import AuditEvent, RegisteredModel, Stage
from tenants.access import Principal

STAGE_CHANGED = "model_version.stage_changed"
ALIAS_SET = "model_version_alias.set"
ALIAS_DELETED = "model_version_alias.deleted"
VERSION_DELETED = "model_version.deleted"
MODEL_DELETED = "registered_model.deleted"
REPLAYED = (STAGE_CHANGED, ALIAS_SET, ALIAS_DELETED, VERSION_DELETED, MODEL_DELETED)
REPORTED_STAGES = (Stage.STAGING.value, Stage.PRODUCTION.value)

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EPOCH_MS = re.compile(r"^-?[0-9]{1,16}$")
# A `+` of an unencoded UTC offset arrives as a space (`?at=2026-01-01T10:00:00+02:00`): put it back.
_SPACED_OFFSET = re.compile(r" ([0-9]{2}(:?[0-9]{2})?)$")


def parse_at(raw: str | None, now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """`?at=` → (the moment reported back, the newest event time that still counts). Missing or in the future: now.
    Epoch milliseconds count every event of that millisecond; ISO-8601 compares to the microsecond (a time without
    an offset is UTC, a bare date is its midnight UTC). Anything else is a 400."""
    now = now or timezone.now()
    text = (raw or "").strip()
    if not text:
        return now, now
    try:
        if _EPOCH_MS.match(text):
            at = EPOCH + dt.timedelta(milliseconds=int(text))  # exact: no float rounding
            upper = at + dt.timedelta(microseconds=999)
        else:
            parsed = parse_datetime(text) or parse_datetime(_SPACED_OFFSET.sub(r"+\1", text))
            if parsed is None:
                day = parse_date(text)
                if day is None:
                    raise ValueError(text)
                parsed = dt.datetime(day.year, day.month, day.day)
            at = parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=dt.UTC)
            upper = at
    except (ValueError, OverflowError, OSError) as exc:
        raise InvalidParameter(
            f"Invalid 'at' {raw!r}: give an ISO-8601 time (2026-01-31T12:00:00Z) or epoch milliseconds."
        ) from exc
    if at > now:
        return now, now
    return at.astimezone(dt.UTC), upper


def replay(rows: list[tuple[str, int | None, Any, Any]]) -> tuple[dict[int, str], dict[str, int]]:
    """(action, version, before, after) rows in sequence order → ({version: stage}, {alias: version})."""
    stage_of: dict[int, str] = {}
    alias_to: dict[str, int] = {}
    for action, version, before, after in rows:
        before, after = before or {}, after or {}
        if action == STAGE_CHANGED and version is not None and after.get("stage"):
            stage_of[version] = after["stage"]
        elif action == ALIAS_SET and after.get("alias"):
            target = after.get("version", version)
            if target is not None:
                alias_to[after["alias"]] = int(target)
        elif action == ALIAS_DELETED and before.get("alias"):
            alias_to.pop(before["alias"], None)
        elif action == VERSION_DELETED and version is not None:
            # Its aliases went with it (the rows cascade; `before.aliases` names them).
            stage_of.pop(version, None)
            alias_to = {a: v for a, v in alias_to.items() if v != version}
        elif action == MODEL_DELETED:
            stage_of, alias_to = {}, {}
    return stage_of, alias_to


def state_at(model: RegisteredModel, upper: dt.datetime) -> dict[str, Any]:
    """The replayed state of `model` with every event created at or before `upper` applied."""
    rows = list(
        AuditEvent.objects.filter(
            tenant_id=model.tenant_id, model_id=model.pk, action__in=REPLAYED, created_at__lte=upper
        )
        .order_by("seq")
        .values_list("action", "version", "before", "after")
    )
    stage_of, alias_to = replay(rows)
    in_stage = {
        stage: sorted(v for v, s in stage_of.items() if s == stage)
        for stage in REPORTED_STAGES
        if any(s == stage for s in stage_of.values())
    }
    return {
        # Several versions can share a stage (a promotion without archiving); like `models:/name/Stage`, the
        # newest one is the answer, and `stage_versions` lists them all.
        "stages": {stage: str(versions[-1]) for stage, versions in in_stage.items()},
        "aliases": {alias: str(v) for alias, v in sorted(alias_to.items())},
        "stage_versions": {stage: [str(v) for v in versions] for stage, versions in in_stage.items()},
    }


def stages_at(principal: Principal, name: str, raw_at: str | None) -> dict[str, Any]:
    """`GET models/<name>/stages?at=…`: the model by its current name (404 when unreadable), its history by id."""
    model = selectors.model_get(principal, name)
    at, upper = parse_at(raw_at)
    return {"name": model.name, "at": at.isoformat().replace("+00:00", "Z"), **state_at(model, upper)}
