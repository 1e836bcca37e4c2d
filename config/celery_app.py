from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Seconds before a task is killed; registration-type tasks set shorter limits of their own (registry/tasks.py).
TASK_TIME_LIMIT = int(os.environ.get("CELERY_TASK_TIME_LIMIT", "300"))
VISIBILITY_TIMEOUT = int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", str(TASK_TIME_LIMIT + 60)))
# Registration-type tasks (registration, applying a transition request) write rows only and finish in seconds.
REGISTRATION_TIME_LIMIT = int(os.environ.get("CELERY_REGISTRATION_TIME_LIMIT", "60"))
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


class ModelgateCelery(Celery):
    """`send_task` by name (services publish by name) honours `task_ignore_result` like `Task.apply_async` does;
    stock Celery subscribes to the result of every task sent by name, which retries ~20 s when Redis is down."""

    def send_task(self, name: str, *args: Any, **options: Any) -> Any:
        options.setdefault("ignore_result", self.conf.task_ignore_result)
        return super().send_task(name, *args, **options)


app = ModelgateCelery("modelgate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_time_limit=TASK_TIME_LIMIT,
    task_soft_time_limit=int(
        os.environ.get("CELERY_TASK_SOFT_TIME_LIMIT", str(max(TASK_TIME_LIMIT - 30, 1)))
    ),
    broker_connection_retry_on_startup=True,
    # --- reliability: a Redis outage must not stall the web tier (see README "Reliability") ---
    # Nobody reads the results of the tasks the web publishes (callers poll the database instead), and subscribing
    # to a result on publish is what retried for ~20 s in the request thread with Redis down. Tasks whose result
    # a caller does read say so per call: `apply_async(..., ignore_result=False)`.
    task_ignore_result=True,
    # Publishing gives up within about a second: one quick retry, then the caller's fallback (the row stays
    # PENDING / approved / pending and the periodic re-enqueue sends it later).
    task_publish_retry_policy=PUBLISH_RETRY_POLICY,
    broker_connection_timeout=1.0,
    redis_socket_connect_timeout=1.0,
    # A caller that does wait for a result (tests, the ping round trip) gets an error quickly, not 20 retries.
    result_backend_transport_options={
        "retry_policy": {"max_retries": 2, "interval_start": 0, "interval_step": 0.5}
    },
    broker_transport_options={
        # Redis redelivers an unacknowledged task (its worker died) after this many seconds: just above the
        # longest time limit, so a live task is never handed out twice, and a crash is recovered in minutes.
        "visibility_timeout": VISIBILITY_TIMEOUT,
        # How often each worker looks for such messages: every N seconds (kombu's default is a scan every 100 s).
        "unacked_restore_interval": int(os.environ.get("CELERY_UNACKED_RESTORE_INTERVAL", "10")),
        "unacked_restore_throttle": 1,
        "socket_connect_timeout": 1.0,
        # Above kombu's 1 s BRPOP poll, so idle workers are not cut off; bounds a publish to a hung Redis.
        "socket_timeout": 3.0,
        "max_retries": 1,
        "interval_start": 0,
        "interval_step": 0.2,
        "interval_max": 0.2,
    },
    result_expires=3600,
    worker_hijack_root_logger=False,
    # Periodic safety nets, run by one `celery -A config beat` (make run embeds it in its worker with --beat).
    beat_schedule={
        # Unreferenced blobs and stray objects older than ARTIFACT_GC_GRACE_SECONDS (registry/artifacts/gc.py).
        "collect-orphan-blobs": {
            "task": "modelgate.collect_orphan_blobs",
            "schedule": 3600.0,
        },
        # A version whose enqueue was lost (broker down at commit) would stay PENDING_REGISTRATION forever.
        "requeue-pending-registrations": {
            "task": "modelgate.requeue_pending_registrations",
            "schedule": 60.0,
        },
        # Signed checkpoints of each tenant's audit chain, in artifact storage: truncation becomes detectable.
        "audit-checkpoint": {
            "task": "modelgate.audit_checkpoint",
            "schedule": 300.0,
        },
        # Webhook deliveries whose worker was lost mid-attempt, or whose enqueue was lost at commit.
        "requeue-webhook-deliveries": {
            "task": "modelgate.requeue_webhook_deliveries",
            "schedule": 30.0,
        },
        # Usage counters live in Redis until flushed into VersionUsage (registry/usage.py).
        "flush-usage-counters": {
            "task": "modelgate.flush_usage_counters",
            "schedule": 60.0,
        },
        # Expired Idempotency-Key records (registry/idempotency.py).
        "purge-idempotency-keys": {
            "task": "modelgate.purge_idempotency_keys",
            "schedule": 3600.0,
        },
        # An approved transition request whose apply task was lost would stay `approved` forever.
        "requeue-approved-transition-requests": {
            "task": "modelgate.requeue_approved_transition_requests",
            "schedule": 60.0,
        },
        # Re-read a few random artifact blobs against their sha256 (registry/artifacts/integrity.py).
        "verify-artifact-sample": {
            "task": "modelgate.verify_artifact_sample",
            "schedule": 600.0,
        },
        # Resumable uploads (registry/artifacts/uploads): sessions whose completion was lost, and abandoned ones.
        "requeue-completing-uploads": {
            "task": "modelgate.requeue_completing_uploads",
            "schedule": 60.0,
        },
        "expire-upload-sessions": {
            "task": "modelgate.expire_upload_sessions",
            "schedule": 600.0,
        },
    },
)
# Keep the worker's database connections across tasks: Celery's Django fixup closes them before and after every task
# unless told to reuse them (a new PostgreSQL connection per registration). Django's own rules apply instead, as
# around a web request: before each task, `close_old_connections()` honours CONN_MAX_AGE and drops a broken one.
app.conf.CELERY_DB_REUSE_MAX = int(os.environ.get("CELERY_DB_REUSE_MAX", "1000"))


@task_prerun.connect
def _reuse_db_connections_like_requests(**_kwargs: object) -> None:
    from django.db import close_old_connections

    close_old_connections()


app.autodiscover_tasks()
