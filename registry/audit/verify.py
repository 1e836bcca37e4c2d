"""Verifying a tenant's audit chain, and writing its signed checkpoints (the beat task's work).

Verification streams the events in seq order (a server-side cursor, in chunks: a tenant can have millions) and
checks, in order, stopping at the first fault:
1. continuity: seqs are 1..N with no gap (a deleted event is named by its missing seq);
2. linkage: each event's `prev_hash` is the previous event's hash;
3. content: each event's hash recomputes from its stored fields (per its `hash_version`; no downgrade from 2 to 1);
4. the chain head: its seq and hash are the last event's, and no event lies beyond it;
5. the newest signed checkpoint: its HMAC is valid, the checkpointed seq exists and still has the checkpointed hash
   (fewer events than the checkpoint: truncation, naming the first missing seq).
No transaction is held: storage is read first, outside any transaction; appends that commit meanwhile land beyond
the head read at the start and are not looked at."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.db.models import F, Max

from . import checkpoints
from .checkpoints import Checkpoint
from .hashing import EVENT_FIELDS, GENESIS_HASH, HASH_VERSIONS, compute_hash

logger = logging.getLogger(__name__)

CHUNK = 2000


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    events: int
    first_bad_seq: int | None
    reason: str
    checkpoint: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "first_bad_seq": self.first_bad_seq,
            "reason": self.reason,
            "checkpoint": self.checkpoint,
        }


@dataclass
class _Walk:
    events: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS_HASH
    bad_seq: int | None = None
    reason: str = ""
    watched: dict[int, str] = field(default_factory=dict)


def _walk(tenant_id: int, *, after_seq: int, after_hash: str, upto: int, watch: set[int]) -> _Walk:
    """Check events after_seq+1..upto, linked from `after_hash`; stop at the first fault."""
    from ..models import AuditEvent

    walk = _Walk(last_seq=after_seq, last_hash=after_hash)
    rows = (
        AuditEvent.objects.filter(tenant_id=tenant_id, seq__gt=after_seq, seq__lte=upto)
        .order_by("seq")
        .values(*EVENT_FIELDS)
        .iterator(chunk_size=CHUNK)
    )
    seen_v2 = False
    for row in rows:
        seq = row["seq"]
        expected = walk.last_seq + 1
        fault = ""
        if seq != expected:
            walk.bad_seq = expected
            walk.reason = f"event {expected} is missing (the next stored event is {seq})"
            return walk
        if row["hash_version"] not in HASH_VERSIONS:
            fault = f"event {seq} has an unknown hash_version {row['hash_version']!r}"
        elif row["hash_version"] < 2 and seen_v2:
            fault = (
                f"event {seq} claims hash_version {row['hash_version']} after version-2 events (downgrade)"
            )
        elif row["prev_hash"] != walk.last_hash:
            fault = f"event {seq} does not link to event {seq - 1} (its prev_hash differs)"
        elif compute_hash(row) != row["hash"]:
            fault = f"event {seq} was altered (its content does not match its hash)"
        if fault:
            walk.bad_seq, walk.reason = seq, fault
            return walk
        seen_v2 = seen_v2 or row["hash_version"] >= 2
        walk.events += 1
        walk.last_seq, walk.last_hash = seq, row["hash"]
        if seq in watch:
            walk.watched[seq] = row["hash"]
    return walk


def _head(tenant_id: int) -> tuple[int, str]:
    from ..models import AuditChainHead

    row = AuditChainHead.objects.filter(tenant_id=tenant_id).values_list("last_seq", "last_hash").first()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS_HASH)


def verify_chain(tenant: Any) -> VerifyResult:
    """Verify `tenant`'s audit chain (a Tenant or its id). `ok` only if every check above passes."""
    from ..models import AuditEvent

    tenant_id = int(getattr(tenant, "pk", tenant))
    try:
        checkpoint: Checkpoint | None = checkpoints.read_latest(tenant_id)
    except Exception as exc:  # noqa: BLE001  (any storage failure: S3 raises botocore errors, not OSError)
        # Without the checkpoint truncation cannot be ruled out: not verified, rather than a 500.
        logger.warning("audit: cannot read tenant %s's latest checkpoint", tenant_id, exc_info=True)
        return VerifyResult(False, 0, None, f"the latest checkpoint cannot be read from storage: {exc}")
    cp_info = checkpoint.as_dict() if checkpoint else None

    def total() -> int:
        return AuditEvent.objects.filter(tenant_id=tenant_id).count()

    def bad(seq: int | None, reason: str, events: int | None = None) -> VerifyResult:
        return VerifyResult(False, total() if events is None else events, seq, reason, cp_info)

    head_seq, head_hash = _head(tenant_id)
    watch = {checkpoint.seq} if checkpoint is not None else set()
    walk = _walk(tenant_id, after_seq=0, after_hash=GENESIS_HASH, upto=head_seq, watch=watch)
    if walk.bad_seq is not None:
        return bad(walk.bad_seq, walk.reason)
    n = walk.last_seq
    if n < head_seq:
        return bad(n + 1, f"events {n + 1}..{head_seq} are missing (the chain head is at {head_seq})")
    if walk.last_hash != head_hash:
        return bad(head_seq, f"the chain head's hash is not event {head_seq}'s")
    # An event commits together with its head update, so reading the newest event first and the head after can
    # never see a legitimate event beyond the head: one there means the head was rewound (or removed).
    newest = AuditEvent.objects.filter(tenant_id=tenant_id).aggregate(m=Max("seq"))["m"] or 0
    head_now, _ = _head(tenant_id)
    if newest > head_now:
        return bad(
            head_now + 1, f"event {head_now + 1} lies beyond the chain head (at {head_now}): head rewound"
        )
    if checkpoint is not None:
        if not checkpoint.signature_ok:
            return bad(
                None,
                "the latest checkpoint's signature is invalid (forged, or MODELGATE_AUDIT_KEY changed)",
                n,
            )
        if checkpoint.seq > n:
            return bad(
                n + 1,
                f"events {n + 1}..{checkpoint.seq} are missing: the chain ends at {n} but was checkpointed at "
                f"{checkpoint.seq} ({checkpoint.time})",
                n,
            )
        if walk.watched.get(checkpoint.seq) != checkpoint.hash:
            return bad(
                checkpoint.seq,
                f"event {checkpoint.seq} differs from its signed checkpoint (chain rewritten)",
                n,
            )
    return VerifyResult(True, n, None, "", cp_info)


# --- checkpoints (the beat task) ---------------------------------------------------------------------------------


def checkpoint_tenant(tenant_id: int) -> int | None:
    """Sign and store a checkpoint of the tenant's head, after checking the events since the previous checkpoint
    (so a tampered chain is never blessed). Returns the checkpointed seq, or None when nothing was written."""
    from ..models import AuditChainHead

    previous = checkpoints.read_latest(tenant_id)
    if previous is not None and not previous.signature_ok:
        logger.error("audit: tenant %s's latest checkpoint has a bad signature; not checkpointing", tenant_id)
        return None
    head_seq, head_hash = _head(tenant_id)
    start_seq, start_hash = (previous.seq, previous.hash) if previous else (0, GENESIS_HASH)
    if start_seq > head_seq:
        logger.error(
            "audit: tenant %s's chain (%s) is behind its checkpoint (%s)", tenant_id, head_seq, start_seq
        )
        return None
    if start_seq < head_seq:
        walk = _walk(tenant_id, after_seq=start_seq, after_hash=start_hash, upto=head_seq, watch=set())
        if walk.bad_seq is not None or (walk.last_seq, walk.last_hash) != (head_seq, head_hash):
            logger.error(
                "audit: tenant %s's chain is broken at seq %s (%s); not checkpointing",
                tenant_id,
                walk.bad_seq if walk.bad_seq is not None else walk.last_seq + 1,
                walk.reason or "the head does not match the events",
            )
            return None
        checkpoints.write(tenant_id=tenant_id, seq=head_seq, hash=head_hash)
    # Bookkeeping only (which tenants moved); a conditional UPDATE so a slower run never moves it back.
    AuditChainHead.objects.filter(tenant_id=tenant_id, checkpointed_seq__lt=head_seq).update(
        checkpointed_seq=head_seq
    )
    return head_seq if start_seq < head_seq else None


LOCK_KEY = "modelgate:audit-checkpoint:lock"


def checkpoint_all(lock_seconds: int = 600) -> int:
    """Checkpoint every tenant whose head moved since its last checkpoint; returns how many were written. One run
    at a time (a cache lock), so `latest.json` never goes back to an older seq written by a slower run."""
    from ..models import AuditChainHead

    if not cache.add(LOCK_KEY, "1", timeout=lock_seconds):
        return 0
    try:
        moved = list(
            AuditChainHead.objects.filter(last_seq__gt=F("checkpointed_seq"))
            .order_by("tenant_id")
            .values_list("tenant_id", flat=True)
        )
        return sum(1 for tenant_id in moved if checkpoint_tenant(tenant_id) is not None)
    finally:
        cache.delete(LOCK_KEY)
