"""The audit log: a per-tenant, hash-chained, append-only record of every change.

- `record()` (`chain.py`) appends an event inside the caller's transaction (services call it via `events.emit`);
- `hashing.py` says what each event's hash covers (every stored field, `hash_version` 2);
- `verify_chain()` (`verify.py`) recomputes a tenant's chain and compares it with the newest signed checkpoint;
- `checkpoints.py` signs and stores checkpoints in artifact storage (written by the `modelgate.audit_checkpoint`
  beat task through `checkpoint_all()`).
On PostgreSQL a trigger refuses UPDATE and DELETE of audit events (migration `0005_audit_append_only_trigger`)."""

from __future__ import annotations

from .chain import record
from .hashing import GENESIS_HASH, canonical, compute_hash, event_content
from .verify import VerifyResult, checkpoint_all, checkpoint_tenant, verify_chain

__all__ = [
    "GENESIS_HASH",
    "VerifyResult",
    "canonical",
    "checkpoint_all",
    "checkpoint_tenant",
    "compute_hash",
    "event_content",
    "record",
    "verify_chain",
]
