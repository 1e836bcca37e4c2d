"""Celery tasks of resumable uploads (registered by `registry.tasks`, which imports this module)."""

from __future__ import annotations

import logging
from datetime import timedelta

from botocore.exceptions import BotoCoreError, ClientError
from celery import shared_task
from django.db import InterfaceError, OperationalError, close_old_connections
from django.db.models import Q
from django.utils import timezone

from config.errors import TemporarilyUnavailable

from . import assembly
from .services import COMPLETE_TASK

logger = logging.getLogger(__name__)

# Transient: the database or the object store went away for a moment. (A ClientError from S3 other than a missing
# upload, e.g. a 503 SlowDown, is worth another attempt too; bad data fails the session instead, in `complete`.
# TemporarilyUnavailable: the bytes were collected under us while recording; storing them again fixes it.)
TRANSIENT_ERRORS = (
    OperationalError,
    InterfaceError,
    OSError,
    BotoCoreError,
    ClientError,
    TemporarilyUnavailable,
)


@shared_task(
    name=COMPLETE_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=assembly.TIME_LIMIT,
    soft_time_limit=assembly.TIME_LIMIT - 30,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=2,
    retry_backoff_max=120,
    retry_jitter=True,
    max_retries=6,
)
def complete_upload(session_id: str) -> str:
    """Assemble, verify and record a resumable upload. Idempotent: see `registry.artifacts.uploads.assembly`."""
    close_old_connections()
    try:
        return assembly.complete(session_id)
    except TRANSIENT_ERRORS:
        # Free the lease so the retry (or the periodic re-enqueue) can take the session at once.
        from .models import UploadSession

        UploadSession.objects.filter(pk=session_id).update(lease_until=None)
        raise


@shared_task(name="modelgate.requeue_completing_uploads")
def requeue_completing_uploads(older_than_seconds: int = 60, resend_after_seconds: int | None = None) -> int:
    """Re-send sessions still `completing` with no live lease (their enqueue was lost, or their worker died),
    each claimed with a conditional UPDATE of `enqueued_at` as for registrations (`registry.tasks`)."""
    from registry.tasks import RESEND_AFTER_SECONDS, _claim_and_send

    resend = RESEND_AFTER_SECONDS if resend_after_seconds is None else resend_after_seconds
    now = timezone.now()
    due = Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - timedelta(seconds=resend))
    candidates = assembly.stuck_completing(older_than_seconds).filter(due)
    # `_claim_and_send` sends `task.delay(pk)`: a UUID is not JSON, so send through a wrapper taking it as text.
    sent = _claim_and_send(candidates, due, now, _ById, what="upload session")
    if sent:
        logger.info("requeued %d completing upload sessions", sent)
    return sent


class _ById:
    @staticmethod
    def delay(pk) -> None:
        complete_upload.delay(str(pk))


@shared_task(name="modelgate.expire_upload_sessions", acks_late=True)
def expire_upload_sessions() -> int:
    """Expire abandoned sessions and remove their parts (audited per session); idempotent."""
    close_old_connections()
    summary = assembly.expire_and_clean()
    return summary["expired"]
