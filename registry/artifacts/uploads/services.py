"""Writes of resumable uploads. Storage I/O never runs inside a transaction: opening a session creates the S3
multipart upload first and records the row after; a part is staged first and recorded after; aborting and
finishing remove staged bytes after commit. Each recording service is one durable transaction that locks the
session row, checks its status under that lock, writes with `update_fields` and ends with the audit event."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config.errors import Conflict, InvalidParameter, NotFound
from registry import events
from registry.publishing import publish
from registry.tracking.models import Run
from registry.tracking.services._common import actor
from tenants.access import Principal

from .. import storage
from ..selectors import artifact_experiment, remaining_quota
from . import staging
from .models import UploadPart, UploadSession, UploadStatus
from .selectors import missing_parts, upload_session_for

logger = logging.getLogger(__name__)

COMPLETE_TASK = "modelgate.complete_upload"
MIB = 1024 * 1024
MIN_PART_SIZE = 5 * MIB  # S3's minimum for every part but the last
MAX_PART_SIZE = 5 * 1024 * MIB
MAX_PARTS = 10_000  # S3's limit on the parts of one multipart upload
MAX_SIZE = 5 * 1024 * 1024 * MIB  # S3's largest object (5 TiB)
SHA256_RE = re.compile(r"[0-9a-f]{64}")


def _run_artifact_path(principal: Principal, run_id: str, path: str) -> tuple[Run, str]:
    """The run (of the caller's tenant) and the tenant artifact path of `path` inside its artifacts."""
    relative = storage.validate_artifact_path(path)
    run = (
        Run.objects.for_tenant(principal.tenant)
        .select_related("experiment")
        .filter(run_id=str(run_id))
        .first()
        if isinstance(run_id, str) and len(run_id) <= 32
        else None
    )
    if run is None:
        raise NotFound(f"Run '{run_id}' not found.")
    return run, f"{run.experiment.number}/{run.run_id}/artifacts/{relative}"


def _part_size(size: int, requested: int | None) -> int:
    if requested is None:
        # Grow the default for huge files so they stay within S3's 10,000 parts.
        return max(settings.ARTIFACT_UPLOAD_PART_SIZE, -(-size // MAX_PARTS))
    if not MIN_PART_SIZE <= requested <= MAX_PART_SIZE:
        raise InvalidParameter(f"part_size must be {MIN_PART_SIZE} to {MAX_PART_SIZE} bytes.")
    if -(-size // requested) > MAX_PARTS:
        raise InvalidParameter(
            f"part_size {requested} makes more than {MAX_PARTS} parts; choose a larger one."
        )
    return requested


def upload_session_open(
    *,
    principal: Principal,
    run_id: str,
    path: str,
    size: int,
    sha256: str | None = None,
    part_size: int | None = None,
) -> UploadSession:
    """Open a session for the file at `path` inside the run's artifacts. Permission (edit on the run's experiment,
    like a plain artifact upload) and the storage quota are checked before anything is created: a declared size
    over what the quota leaves is refused and keeps nothing."""
    run, full_path = _run_artifact_path(principal, run_id, path)
    artifact_experiment(principal, full_path, "edit")
    if not isinstance(size, int) or not 1 <= size <= MAX_SIZE:
        raise InvalidParameter(f"size must be 1 to {MAX_SIZE} bytes (send smaller files with a plain PUT).")
    if sha256 is not None and not SHA256_RE.fullmatch(sha256):
        raise InvalidParameter("sha256 must be 64 lowercase hexadecimal digits.")
    chosen = _part_size(size, part_size)
    limit = remaining_quota(principal.tenant)
    if limit is not None and size > limit:
        raise storage.quota_error(principal.tenant)
    session_id = str(uuid.uuid4())
    upload_id = staging.begin(principal.tenant.pk, session_id)
    try:
        return _session_create(
            principal=principal,
            session_id=session_id,
            run=run,
            path=full_path,
            size=size,
            sha256=sha256 or "",
            part_size=chosen,
            upload_id=upload_id,
        )
    except BaseException:
        staging.discard(principal.tenant.pk, session_id, upload_id)
        raise


@transaction.atomic(durable=True)
def _session_create(
    *,
    principal: Principal,
    session_id: str,
    run: Run,
    path: str,
    size: int,
    sha256: str,
    part_size: int,
    upload_id: str,
) -> UploadSession:
    experiment = artifact_experiment(principal, path, "edit")
    session = UploadSession.objects.create(
        id=session_id,
        tenant=principal.tenant,
        experiment=experiment,
        run=run,
        path=path,
        size=size,
        sha256=sha256,
        part_size=part_size,
        s3_upload_id=upload_id,
        expires_at=timezone.now() + timedelta(hours=settings.ARTIFACT_UPLOAD_SESSION_HOURS),
        created_by=actor(principal),
    )
    events.emit(
        tenant=principal.tenant,
        actor=actor(principal),
        action="artifact.upload_started",
        obj=session,
        after={"session": session_id, "path": path, "size": size, "sha256": sha256, "part_size": part_size},
    )
    return session


def _require_open(session: UploadSession) -> None:
    if session.status != UploadStatus.OPEN:
        raise Conflict(f"The upload session is {session.status}; it no longer accepts this.")
    if session.expires_at <= timezone.now():
        raise Conflict("The upload session has expired.")


def upload_part_put(
    *,
    principal: Principal,
    session_id: str,
    number: int,
    read: Callable[[int], bytes],
    declared_size: int | None,
) -> UploadPart:
    """Stage part `number` from a streamed body and record it; re-sending a number replaces that part. The body
    must be exactly the part's size (`part_size`, the last part the rest): a body cut short by a broken
    connection is refused and nothing of it is kept."""
    session = upload_session_for(principal, session_id, "edit")
    _require_open(session)
    if not 1 <= number <= session.part_count:
        raise InvalidParameter(f"Part numbers of this session are 1 to {session.part_count}.")
    expected = session.expected_part_size(number)
    if declared_size is None:
        raise InvalidParameter("Send the part with a Content-Length header.")
    if declared_size != expected:
        raise InvalidParameter(f"Part {number} must be {expected} bytes, not {declared_size}.")
    stored = staging.store_part(
        tenant_id=session.tenant_id,
        session_id=str(session.pk),
        upload_id=session.s3_upload_id,
        number=number,
        expected=expected,
        read=read,
    )
    try:
        return _part_record(principal=principal, session_id=session.pk, number=number, stored=stored)
    except Conflict:
        # Aborted, expired or completing meanwhile: the discard may have run before this file was written.
        staging.remove_part_file(str(session.pk), stored.stored_key)
        raise


@transaction.atomic(durable=True)
def _part_record(
    *, principal: Principal, session_id: uuid.UUID, number: int, stored: staging.StoredPart
) -> UploadPart:
    # The session row lock orders this against complete and abort: a part recorded here was there for them.
    session = UploadSession.objects.for_tenant(principal.tenant).select_for_update().get(pk=session_id)
    _require_open(session)
    part, created = UploadPart.objects.get_or_create(
        session=session,
        number=number,
        defaults={
            "tenant": session.tenant,
            "size": stored.size,
            "sha256": stored.sha256,
            "etag": stored.etag,
            "stored_key": stored.stored_key,
        },
    )
    replaced = ""
    if not created:
        replaced = part.stored_key if part.stored_key != stored.stored_key else ""
        part.size, part.sha256, part.etag, part.stored_key = (
            stored.size,
            stored.sha256,
            stored.etag,
            stored.stored_key,
        )
        part.save(update_fields=["size", "sha256", "etag", "stored_key", "updated_at"])
    events.emit(
        tenant=session.tenant,
        actor=actor(principal),
        action="artifact.upload_part_stored",
        obj=session,
        after={"session": str(session.pk), "part": number, "size": stored.size, "sha256": stored.sha256},
        # The replaced part's file is nobody's once this commits (file backend; S3 replaced it in place).
        after_commit=(lambda: staging.remove_part_file(str(session_id), replaced)) if replaced else None,
    )
    return part


@transaction.atomic(durable=True)
def upload_complete(*, principal: Principal, session_id: str) -> UploadSession:
    """Ask the worker to assemble, verify and record the upload (`completing`). Idempotent: a session already
    completing or completed is answered as it is. Every part must be stored."""
    found = upload_session_for(principal, session_id, "edit")
    session = UploadSession.objects.select_for_update().get(pk=found.pk)
    if session.status in (UploadStatus.COMPLETING, UploadStatus.COMPLETED):
        return session
    _require_open(session)
    missing = missing_parts(session)
    if missing:
        raise Conflict(
            f"{len(missing)} of {session.part_count} parts are missing.", details={"missing_parts": missing}
        )
    session.status = UploadStatus.COMPLETING
    session.enqueued_at = timezone.now()
    session.save(update_fields=["status", "enqueued_at", "updated_at"])
    pk = str(session.pk)

    def enqueue() -> None:
        publish(COMPLETE_TASK, [pk])

    events.emit(
        tenant=session.tenant,
        actor=actor(principal),
        action="artifact.upload_completing",
        obj=session,
        before={"status": UploadStatus.OPEN},
        after={"session": pk, "status": UploadStatus.COMPLETING},
        # A lost publish leaves the session `completing`: the periodic re-enqueue sends it.
        after_commit=enqueue,
    )
    return session


def upload_abort(*, principal: Principal, session_id: str) -> UploadSession:
    """Abort an open (or failed) session and remove its staged parts. Aborting twice is harmless."""
    session = _abort_record(principal=principal, session_id=session_id)
    discard_staged(session)
    return session


@transaction.atomic(durable=True)
def _abort_record(*, principal: Principal, session_id: str) -> UploadSession:
    found = upload_session_for(principal, session_id, "edit")
    session = UploadSession.objects.select_for_update().get(pk=found.pk)
    if session.status == UploadStatus.ABORTED:
        return session
    if session.status not in (UploadStatus.OPEN, UploadStatus.FAILED):
        raise Conflict(f"The upload session is {session.status}; it cannot be aborted.")
    before = session.status
    session.status = UploadStatus.ABORTED
    session.save(update_fields=["status", "updated_at"])
    events.emit(
        tenant=session.tenant,
        actor=actor(principal),
        action="artifact.upload_aborted",
        obj=session,
        before={"status": before},
        after={"session": str(session.pk), "status": UploadStatus.ABORTED},
    )
    return session


def discard_staged(session: UploadSession) -> bool:
    """After commit: remove a finished session's staged bytes and note it (a failure leaves `cleaned_at` empty
    for the periodic sweep to retry). Never raises."""
    try:
        staging.discard(session.tenant_id, str(session.pk), session.s3_upload_id)
    except Exception:
        logger.warning(
            "could not remove the staged parts of upload %s; the sweep will", session.pk, exc_info=True
        )
        return False
    # Bookkeeping, not a change anyone audits: the session's status already says it is over.
    UploadSession.objects.filter(pk=session.pk, cleaned_at__isnull=True).update(cleaned_at=timezone.now())
    return True


# --- the worker's side (registry/artifacts/uploads/assembly.py) -----------------------------------------------------


@transaction.atomic(durable=True)
def upload_finish(*, session_id: str, sha256: str = "", error_code: str = "", message: str = "") -> bool:
    """Mark a completing session completed (with the digest of what was recorded) or failed (with a stable code
    and a message); False when it was not completing any more (a duplicate run finished it)."""
    session = UploadSession.objects.select_for_update().filter(pk=session_id).first()
    if session is None or session.status != UploadStatus.COMPLETING:
        return False
    failed = bool(error_code)
    session.status = UploadStatus.FAILED if failed else UploadStatus.COMPLETED
    session.error_code, session.error_message = error_code, message
    session.result_sha256 = sha256
    session.lease_until = None
    session.save(
        update_fields=["status", "error_code", "error_message", "result_sha256", "lease_until", "updated_at"]
    )
    after = {"session": str(session.pk), "status": session.status, "path": session.path}
    after.update({"error_code": error_code, "message": message} if failed else {"sha256": sha256})
    events.emit(
        tenant=session.tenant,
        actor=None,
        action="artifact.upload_failed" if failed else "artifact.upload_completed",
        obj=session,
        before={"status": UploadStatus.COMPLETING},
        after=after,
    )
    return True


@transaction.atomic(durable=True)
def upload_expire(*, session_id: str) -> bool:
    """Mark an open session past its `expires_at` expired (the sweep then removes its parts); False otherwise."""
    session = UploadSession.objects.select_for_update().filter(pk=session_id).first()
    if session is None or session.status != UploadStatus.OPEN or session.expires_at > timezone.now():
        return False
    session.status = UploadStatus.EXPIRED
    session.save(update_fields=["status", "updated_at"])
    events.emit(
        tenant=session.tenant,
        actor=None,
        action="artifact.upload_expired",
        obj=session,
        before={"status": UploadStatus.OPEN},
        after={"session": str(session.pk), "status": UploadStatus.EXPIRED, "path": session.path},
    )
    return True
