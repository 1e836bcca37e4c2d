"""What an audit event's hash covers, per `hash_version`, and how it is computed.

A hash is SHA-256 over the canonical JSON (sorted keys, no spaces, UTF-8) of the event's content, which includes
the previous event's hash (`prev_hash`), so changing, inserting or removing an event breaks every later link.

- version 1 (events written before every field was hashed): tenant, seq, created_at, actor name, action, object
  type and id, model_id, version, before, after, prev_hash. Kept byte for byte so old events still verify.
- version 2 (every event written now): every stored field — version 1 plus actor_id, object_repr and
  hash_version itself (so a version cannot be swapped without changing the hash)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

GENESIS_HASH = "0" * 64
CURRENT_HASH_VERSION = 2
HASH_VERSIONS = (1, 2)

# Every stored field of an event, in the order the verifier reads them.
EVENT_FIELDS = (
    "tenant_id",
    "seq",
    "created_at",
    "actor_id",
    "actor_name",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "model_id",
    "version",
    "before",
    "after",
    "prev_hash",
    "hash",
    "hash_version",
)


def canonical(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def normalise_json(value: Any) -> Any:
    """`value` as it reads back from a JSON column, so the hash computed at write time is the one recomputed later.

    PostgreSQL's jsonb stores numbers as `numeric`: a float with an integral value (`2.0`, `1e20`) reads back as an
    int, so such floats are hashed as the integer their decimal text names. Other floats read back unchanged."""
    if isinstance(value, float):
        exact = Decimal(repr(value))
        if exact.is_finite() and exact == exact.to_integral_value():
            return int(exact)
        return value
    if isinstance(value, dict):
        return {str(k): normalise_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalise_json(v) for v in value]
    return value


def _get(row: Any, name: str) -> Any:
    return row[name] if isinstance(row, Mapping) else getattr(row, name)


def content_v1(row: Any) -> dict[str, Any]:
    return {
        "tenant": _get(row, "tenant_id"),
        "seq": _get(row, "seq"),
        "created_at": _get(row, "created_at").isoformat(),
        "actor": _get(row, "actor_name"),
        "action": _get(row, "action"),
        "object_type": _get(row, "object_type"),
        "object_id": _get(row, "object_id"),
        "model_id": _get(row, "model_id"),
        "version": _get(row, "version"),
        "before": _get(row, "before"),
        "after": _get(row, "after"),
        "prev_hash": _get(row, "prev_hash"),
    }


def content_v2(row: Any) -> dict[str, Any]:
    return {
        "hash_version": 2,
        "tenant": _get(row, "tenant_id"),
        "seq": _get(row, "seq"),
        "created_at": _get(row, "created_at").isoformat(),
        "actor_id": _get(row, "actor_id"),
        "actor_name": _get(row, "actor_name"),
        "action": _get(row, "action"),
        "object_type": _get(row, "object_type"),
        "object_id": _get(row, "object_id"),
        "object_repr": _get(row, "object_repr"),
        "model_id": _get(row, "model_id"),
        "version": _get(row, "version"),
        "before": normalise_json(_get(row, "before")),
        "after": normalise_json(_get(row, "after")),
        "prev_hash": _get(row, "prev_hash"),
    }


def event_content(row: Any) -> dict[str, Any]:
    """The hashed content of an event (a model instance or a `.values()` row), per its `hash_version`."""
    version = _get(row, "hash_version")
    if version == 1:
        return content_v1(row)
    if version == 2:
        return content_v2(row)
    raise ValueError(f"unknown audit hash_version {version!r}")


def compute_hash(row: Any) -> str:
    return hashlib.sha256(canonical(event_content(row))).hexdigest()
