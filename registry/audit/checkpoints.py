"""Signed checkpoints of each tenant's audit chain, kept in artifact storage, not in the database.

A checkpoint is `{"tenant", "seq", "hash", "time"}` plus `"hmac"`: HMAC-SHA256 over the canonical JSON of the four
fields, keyed by `MODELGATE_AUDIT_KEY` (environment; default: derived from `SECRET_KEY` with the label below). The
key is never stored in the database, so someone who can rewrite the database (delete the newest events and rewind
the chain head) cannot forge a checkpoint that hides it: verification compares the chain with the newest
checkpoint. Keys: `tenants/<id>/audit/checkpoints/<seq>.json` (one per checkpoint, kept) and
`tenants/<id>/audit/checkpoints/latest.json` (the newest).

All storage I/O here runs outside transactions."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, storages
from django.utils import timezone

from ..artifacts import in_transaction
from .hashing import canonical

logger = logging.getLogger(__name__)

KEY_LABEL = b"modelgate.audit-checkpoint.v1"
SIGNED_FIELDS = ("tenant", "seq", "hash", "time")


def audit_key() -> bytes:
    """`MODELGATE_AUDIT_KEY`, or HMAC-SHA256(SECRET_KEY, label) when unset: a key of its own, so a checkpoint's
    signature reveals nothing usable about SECRET_KEY and rotating one does not silently rotate the other."""
    explicit = os.environ.get("MODELGATE_AUDIT_KEY")
    if explicit:
        return explicit.encode()
    return hmac.new(settings.SECRET_KEY.encode(), KEY_LABEL, hashlib.sha256).digest()


def sign(payload: dict[str, Any], key: bytes | None = None) -> str:
    body = canonical({k: payload[k] for k in SIGNED_FIELDS})
    return hmac.new(key if key is not None else audit_key(), body, hashlib.sha256).hexdigest()


def directory(tenant_id: int) -> str:
    return f"tenants/{tenant_id}/audit/checkpoints"


def key_for(tenant_id: int, name: str) -> str:
    return f"{directory(tenant_id)}/{name}.json"


@dataclass(frozen=True)
class Checkpoint:
    tenant: int
    seq: int
    hash: str
    time: str
    signature_ok: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "hash": self.hash,
            "time": self.time,
            "signature_ok": self.signature_ok,
        }


def _write(key: str, data: bytes) -> None:
    storage = storages["artifacts"]
    if isinstance(storage, FileSystemStorage):
        # Write aside and rename: a reader sees the old `latest.json` or the new one, never half of one (and
        # FileSystemStorage.save would pick another name instead of replacing it).
        final = storage.path(key)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(final), prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, final)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return
    # Object stores replace an object in one PUT (`file_overwrite` is on for the S3 backend).
    storage.save(key, ContentFile(data))


def write(*, tenant_id: int, seq: int, hash: str) -> dict[str, Any]:
    """Sign and store a checkpoint (its own key, then `latest.json`). Outside transactions."""
    if in_transaction():
        raise RuntimeError("storage I/O inside a transaction")
    payload: dict[str, Any] = {
        "tenant": tenant_id,
        "seq": seq,
        "hash": hash,
        "time": timezone.now().isoformat(),
    }
    payload["hmac"] = sign(payload)
    data = json.dumps(payload, sort_keys=True, indent=1).encode()
    _write(key_for(tenant_id, str(seq)), data)
    _write(key_for(tenant_id, "latest"), data)
    return payload


def _parse(tenant_id: int, raw: bytes) -> Checkpoint:
    try:
        payload = json.loads(raw)
        fields = {k: payload[k] for k in SIGNED_FIELDS}
        signature = str(payload["hmac"])
        seq = int(fields["seq"])
    except (ValueError, KeyError, TypeError):
        return Checkpoint(tenant=tenant_id, seq=0, hash="", time="", signature_ok=False)
    ok = hmac.compare_digest(sign(fields), signature) and fields["tenant"] == tenant_id
    return Checkpoint(
        tenant=fields["tenant"], seq=seq, hash=str(fields["hash"]), time=str(fields["time"]), signature_ok=ok
    )


def read_latest(tenant_id: int) -> Checkpoint | None:
    """The tenant's newest checkpoint (signature checked), or None if none was ever written. Outside transactions.

    When `latest.json` is missing but numbered checkpoints exist, the highest-numbered one is used: removing
    `latest.json` must not switch the truncation check off."""
    if in_transaction():
        raise RuntimeError("storage I/O inside a transaction")
    storage = storages["artifacts"]
    latest = key_for(tenant_id, "latest")
    if not storage.exists(latest):
        try:
            _dirs, files = storage.listdir(directory(tenant_id))
        except (FileNotFoundError, NotADirectoryError):
            return None
        numbered = [int(name[:-5]) for name in files if name.endswith(".json") and name[:-5].isdigit()]
        if not numbered:
            return None
        latest = key_for(tenant_id, str(max(numbered)))
    with storage.open(latest, "rb") as fh:
        return _parse(tenant_id, fh.read())
