"""Celery tasks. Each takes ids, has an explicit name, and calls a service; see the services for idempotency."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError, close_old_connections
from django.db.models import Q, QuerySet
from django.utils import timezone
from redis.exceptions import RedisError

from config.celery_app import REGISTRATION_TIME_LIMIT, VISIBILITY_TIMEOUT

from . import usage
from .models import ModelVersion, TransitionRequest, TransitionRequestStatus, VersionStatus
from .services import APPLY_TASK, REGISTER_TASK, registration_finalize, transition_request_apply

logger = logging.getLogger(__name__)

# Transient failures worth another attempt: the database went away or a lock/serialisation error. Anything else is
# a bug or bad data and fails loudly instead of looping. (Registration does no storage I/O: the snapshot is rows.)
TRANSIENT_ERRORS = (OperationalError, InterfaceError, OSError)


@shared_task(name="modelgate.ping", ignore_result=False)  # its caller reads the result
def ping(value: str = "pong") -> str:
    """Round trip through the broker and a worker (used by health checks and tests)."""
    return value


@shared_task(  # type: ignore[call-overload]  # retry_backoff=0.5 (below)
    name=REGISTER_TASK,
    acks_late=True,
    # Rows only, quick: a short limit (well below the visibility timeout) so a hung attempt is redelivered fast.
    time_limit=REGISTRATION_TIME_LIMIT,
    soft_time_limit=REGISTRATION_TIME_LIMIT - 10,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=0.5,  # a float factor is fine for celery; celery-types says int (the ignore above)
    retry_backoff_max=30,
    retry_jitter=True,
    max_retries=8,
)
def register_model_version(version_id: int) -> str | None:
    """Snapshot a pending version's files and mark it READY (or FAILED_REGISTRATION). Safe to run any number of
    times: `registration_finalize` guards on the status under the row locks."""
    close_old_connections()  # a connection broken by a database restart would fail every retry otherwise
    return registration_finalize(version_id=version_id)


# A version (re-)sent within this many seconds is not sent again: its message is still queued, or held by a worker
# and redelivered by Redis after the visibility timeout if that worker dies. Re-sending it every minute would add
# one copy per pending version per minute to the queue while the workers are down.
RESEND_AFTER_SECONDS = VISIBILITY_TIMEOUT


def _claim_and_send(candidates: QuerySet, due: Q, now: datetime, task: Any, *, what: str) -> int:
    """Re-send each row of `candidates` (rows with an `enqueued_at`) once: CLAIM it with a conditional UPDATE of
    `enqueued_at` first, so concurrent runs send it once and a run while workers are down does not pile up copies;
    when the broker refuses, release the claim so the next run tries again. Returns how many were sent."""
    sent = 0
    for pk, previous in candidates.values_list("pk", "enqueued_at"):
        # Same filter as the candidates, now for this row alone: fails if it finished or another run claimed it.
        if (
            not candidates.model.objects.filter(due, pk=pk)
            .filter(pk__in=candidates.values("pk"))
            .update(enqueued_at=now)
        ):
            continue
        try:
            task.delay(pk)
        except Exception:  # broker still down
            candidates.model.objects.filter(pk=pk, enqueued_at=now).update(enqueued_at=previous)
            logger.warning("could not requeue %s %s", what, pk, exc_info=True)
            continue
        sent += 1
    return sent


@shared_task(name="modelgate.requeue_pending_registrations")
def requeue_pending_registrations(
    older_than_seconds: int = 60, resend_after_seconds: int | None = None
) -> int:
    """Re-enqueue versions still PENDING_REGISTRATION after a while (their enqueue was lost, e.g. the broker was down
    at commit time), at most once per `resend_after_seconds` each. Each version is CLAIMED with a conditional
    UPDATE of `enqueued_at` first, so concurrent runs (two beats, a manual run) send it once. Harmless for versions
    whose task is merely slow: registration is idempotent."""
    resend = RESEND_AFTER_SECONDS if resend_after_seconds is None else resend_after_seconds
    now = timezone.now()
    cutoff = int((time.time() - older_than_seconds) * 1000)
    stale = now - timedelta(seconds=resend)
    due = Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=stale)
    candidates = ModelVersion.objects.filter(
        due, status=VersionStatus.PENDING_REGISTRATION, creation_timestamp__lt=cutoff
    )
    sent = _claim_and_send(candidates, due, now, register_model_version, what="registration of model version")
    if sent:
        logger.info("requeued %d pending model version registrations", sent)
    return sent


__all__ = ["ping", "register_model_version", "requeue_pending_registrations"]


@shared_task(
    name="modelgate.audit_checkpoint",
    acks_late=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=5,
    retry_backoff_max=120,
    retry_jitter=True,
    max_retries=5,
)
def audit_checkpoint() -> int:
    """Write a signed checkpoint of each tenant's audit chain whose head moved (run by beat every few minutes).
    Idempotent: a tenant whose head did not move since its checkpoint is skipped, and rewriting the same seq writes
    the same checkpoint. Storage I/O happens outside any transaction."""
    from .audit import checkpoint_all

    return checkpoint_all()


__all__ += ["audit_checkpoint"]


# --- usage counters (registry/usage.py) ----------------------------------------------------------------------------


@shared_task(
    name="modelgate.flush_usage_counters",
    acks_late=True,
    autoretry_for=(*TRANSIENT_ERRORS, RedisError),
    retry_backoff=1,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=5,
)
def flush_usage_counters() -> int:
    """Move the Redis usage counters into VersionUsage. Idempotent: each batch is recorded with its counts, so a
    rerun (or a concurrent run) never adds one twice; see `registry.usage.flush`."""
    close_old_connections()
    return usage.flush()


__all__ += ["flush_usage_counters"]


# --- governance: approved transition requests ---------------------------------------------------------------


@shared_task(  # type: ignore[call-overload]  # retry_backoff=0.5: celery takes a float factor, celery-types an int
    name=APPLY_TASK,
    acks_late=True,
    time_limit=REGISTRATION_TIME_LIMIT,
    soft_time_limit=REGISTRATION_TIME_LIMIT - 10,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=0.5,
    retry_backoff_max=30,
    retry_jitter=True,
    max_retries=8,
)
def apply_transition_request(request_id: int) -> str | None:
    """Apply an approved transition request (→ applied, or failed with the reason). Safe to run any number of times:
    `transition_request_apply` guards on the status under the row locks."""
    close_old_connections()  # a connection broken by a database restart would fail every retry otherwise
    return transition_request_apply(request_id=request_id)


@shared_task(name="modelgate.requeue_approved_transition_requests")
def requeue_approved_transition_requests(
    older_than_seconds: int = 60, resend_after_seconds: int | None = None
) -> int:
    """Re-enqueue requests still `approved` after a while (their enqueue was lost, e.g. the broker was down at
    commit time), at most once per `resend_after_seconds` each: every request is CLAIMED with a conditional UPDATE of
    `enqueued_at` first, so the queue does not grow by a copy per request per run while workers are down, and
    concurrent runs send it once. Harmless for requests whose task is merely slow: applying is idempotent."""
    resend = RESEND_AFTER_SECONDS if resend_after_seconds is None else resend_after_seconds
    now = timezone.now()
    cutoff = now - timedelta(seconds=older_than_seconds)
    due = Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - timedelta(seconds=resend))
    candidates = TransitionRequest.objects.filter(
        due, status=TransitionRequestStatus.APPROVED, approved_at__lt=cutoff
    )
    sent = _claim_and_send(candidates, due, now, apply_transition_request, what="transition request")
    if sent:
        logger.info("requeued %d approved transition requests", sent)
    return sent


__all__ += ["apply_transition_request", "requeue_approved_transition_requests"]


@shared_task(name="modelgate.collect_blob", acks_late=True)
def collect_blob(blob_id: int) -> int:
    """After a deletion committed: remove a blob's bytes and row if nothing references it any more (re-checked
    under the Blob row lock), audited as one `artifact.gc` event. Idempotent: a gone or referenced blob is kept."""
    from .artifacts import gc

    freed = gc.collect_blob(blob_id)
    if freed is None:
        return 0
    gc.audit(freed[0], {"blobs": 1, "objects": 0, "bytes": freed[1]})
    return freed[1]


@shared_task(name="modelgate.collect_orphan_blobs", acks_late=True)
def collect_orphan_blobs() -> int:
    """Hourly: remove unreferenced blobs and stray objects older than the grace period (one audit event per
    tenant). Returns how many blobs and objects went."""
    from .artifacts import gc

    summary = gc.collect_orphans()
    return sum(row["blobs"] + row["objects"] for row in summary.values())


__all__ += ["collect_blob", "collect_orphan_blobs"]


@shared_task(name="modelgate.verify_artifact_sample", acks_late=True)
def verify_artifact_sample(count: int = 5) -> int:
    """Re-read a few random blobs against their sha256 (storage rot, a bad disk, someone overwriting objects) and
    record each bad one as an `artifact.corrupt_detected` audit event naming what it affects. Read-only on storage,
    so running it twice only checks twice. Returns how many were bad."""
    from .artifacts import integrity
    from .artifacts.services import blob_corruption_record

    bad = 0
    for blob in integrity.sample(count):
        problem = integrity.check_blob(blob)
        if problem is None:
            continue
        bad += 1
        finding = integrity.finding_for(blob, problem)
        logger.error(
            "artifact blob %s of tenant %s is bad: %s (versions %s, paths %s)",
            blob.sha256,
            blob.tenant_id,
            problem,
            [f"{m} v{v}" for m, v, _p in finding.versions],
            finding.paths,
        )
        blob_corruption_record(tenant_id=blob.tenant_id, sha256=blob.sha256, finding=finding.as_dict())
    return bad


# --- idempotency keys (registry/idempotency.py) --------------------------------------------------------------------


@shared_task(name="modelgate.purge_idempotency_keys", acks_late=True)
def purge_idempotency_keys() -> int:
    """Delete expired Idempotency-Key records. Idempotent: a rerun finds nothing more to delete."""
    from .idempotency import purge_expired

    return purge_expired()


__all__ += ["purge_idempotency_keys"]


# --- resumable uploads (registry/artifacts/uploads/tasks.py; imported so the worker registers them) --------------
from .artifacts.uploads.tasks import (  # noqa: E402
    complete_upload,
    expire_upload_sessions,
    requeue_completing_uploads,
)

__all__ += ["complete_upload", "expire_upload_sessions", "requeue_completing_uploads"]
