"""What the worker runs for resumable uploads: completing a session (assemble, verify, record) and the periodic
sweeps (re-enqueue sessions stuck in `completing`, expire abandoned ones, remove staged bytes left behind).

Completion is safe to run any number of times, also concurrently:
- a run first takes the session's lease with a conditional UPDATE (`status = completing` and no live lease), so a
  duplicate delivery leaves a live run alone; the lease outlasts the task's time limit, so a run that died frees
  the session for the periodic re-enqueue;
- the staged parts (and on S3 the staging object) stay until the session is marked completed or failed, so a run
  that dies anywhere before that is redone from the start by the next one: the blob is content-addressed (storing
  it twice stores it once) and recording the artifact again replaces the entry with itself."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from config.errors import ModelgateError, TemporarilyUnavailable
from tenants.access import Principal, team_ids_in
from tenants.models import Membership

from .. import services as artifact_services
from . import services, staging
from .models import TERMINAL, UploadSession, UploadStatus

logger = logging.getLogger(__name__)

# Seconds a completion may take (a few GB on S3: complete, read once to hash, server-side copy).
TIME_LIMIT = int(getattr(settings, "ARTIFACT_UPLOAD_COMPLETE_TIME_LIMIT", 1800))
LEASE = timedelta(seconds=TIME_LIMIT + 60)
CHECKSUM_MISMATCH = "CHECKSUM_MISMATCH"
SIZE_MISMATCH = "SIZE_MISMATCH"


def _creator_principal(session: UploadSession) -> Principal | None:
    """The session's creator as they stand now: recording re-checks their edit permission on the experiment (a
    member removed meanwhile cannot complete an upload they began). None when they left the tenant."""
    user = session.created_by
    membership = Membership.objects.filter(tenant=session.tenant, user=user).first() if user else None
    if user is None or membership is None or not user.is_active:
        return None
    return Principal(
        user=user,
        tenant=session.tenant,
        role=membership.role,
        scopes=frozenset({"read", "write"}),
        team_ids=team_ids_in(user, session.tenant),
    )


def _claim(session_id: str) -> bool:
    now = timezone.now()
    return bool(
        UploadSession.objects.filter(pk=session_id, status=UploadStatus.COMPLETING)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + LEASE)
    )


def complete(session_id: str) -> str:
    """Assemble, verify and record a `completing` session; returns what happened (for logs and tests)."""
    if not _claim(session_id):
        return "skipped"
    session = UploadSession.objects.select_related("tenant", "created_by").get(pk=session_id)
    tenant_id, key, upload_id = session.tenant_id, str(session.pk), session.s3_upload_id
    parts = list(session.parts.order_by("number").values_list("number", "etag", "stored_key"))
    if [p[0] for p in parts] != list(range(1, session.part_count + 1)):  # guarded by upload_complete; be sure
        return _fail(session, "PARTS_MISSING", "Some parts of the upload are missing.")
    try:
        assembled = staging.assemble(tenant_id=tenant_id, session_id=key, upload_id=upload_id, parts=parts)
    except staging.PartsChanged as exc:
        return _fail(session, "PARTS_CHANGED", str(exc))
    if assembled.size != session.size:
        staging.drop_spool(assembled)
        return _fail(session, SIZE_MISMATCH, f"The parts hold {assembled.size} bytes, not {session.size}.")
    if session.sha256 and assembled.sha256 != session.sha256:
        staging.drop_spool(assembled)
        return _fail(
            session,
            CHECKSUM_MISMATCH,
            f"The uploaded bytes have sha256 {assembled.sha256}, not the declared {session.sha256}; "
            "nothing was recorded.",
        )
    principal = _creator_principal(session)
    if principal is None:
        staging.drop_spool(assembled)
        return _fail(
            session, "PERMISSION_DENIED", "The session's creator is no longer a member of the tenant."
        )
    newly_stored = staging.store_assembled(tenant_id=tenant_id, session_id=key, assembled=assembled)
    try:
        artifact_services.artifact_record(
            principal=principal, path=session.path, sha256=assembled.sha256, size=assembled.size
        )
    except TemporarilyUnavailable:
        raise  # a concurrent discard or GC took the bytes (BlobVanished): the task retries, storing them again
    except ModelgateError as exc:  # quota used up meanwhile, permission lost, experiment gone: final
        if newly_stored:
            artifact_services._blob_discard(
                tenant=session.tenant, sha256=assembled.sha256, size=assembled.size
            )
        return _fail(session, exc.code, exc.message)
    if services.upload_finish(session_id=key, sha256=assembled.sha256):
        services.discard_staged(session)
    return UploadStatus.COMPLETED


def _fail(session: UploadSession, code: str, message: str) -> str:
    if services.upload_finish(session_id=str(session.pk), error_code=code, message=message):
        services.discard_staged(session)
    return UploadStatus.FAILED


def stuck_completing(older_than_seconds: int):
    """Sessions in `completing` with no live lease, asked to complete more than `older_than_seconds` ago."""
    now = timezone.now()
    return UploadSession.objects.filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now),
        status=UploadStatus.COMPLETING,
        updated_at__lt=now - timedelta(seconds=older_than_seconds),
    )


def expire_and_clean(*, cleanup_after_seconds: int = 600) -> dict[str, int]:
    """Expire open sessions past `expires_at` (audited, then their parts removed), and remove the staged bytes that
    finished sessions still hold (a removal that failed after an abort or a completion)."""
    now = timezone.now()
    expired = 0
    due = UploadSession.objects.filter(status=UploadStatus.OPEN, expires_at__lte=now)
    for pk in list(due.values_list("pk", flat=True)[:1000]):
        if services.upload_expire(session_id=str(pk)):
            expired += 1
    cleaned = 0
    leftovers = UploadSession.objects.filter(
        status__in=TERMINAL,
        cleaned_at__isnull=True,
        updated_at__lt=now - timedelta(seconds=cleanup_after_seconds),
    )
    # Just-expired sessions are cleaned at once (their updated_at is now).
    leftovers = leftovers | UploadSession.objects.filter(status=UploadStatus.EXPIRED, cleaned_at__isnull=True)
    for session in list(leftovers.distinct()[:1000]):
        if services.discard_staged(session):
            cleaned += 1
    if expired or cleaned:
        logger.info("upload sessions: %d expired, %d cleaned", expired, cleaned)
    return {"expired": expired, "cleaned": cleaned}
