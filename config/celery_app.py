from __future__ import annotations

import os

from celery import Celery
from celery.signals import task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("modelgate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_time_limit=int(os.environ.get("CELERY_TASK_TIME_LIMIT", "1800")),
    task_soft_time_limit=int(os.environ.get("CELERY_TASK_SOFT_TIME_LIMIT", "1700")),
    broker_connection_retry_on_startup=True,
    # Redis redelivers unacknowledged tasks after this; longer than any task's time limit.
    broker_transport_options={"visibility_timeout": 3600},
    result_expires=3600,
    worker_hijack_root_logger=False,
    # Periodic safety nets, run by one `celery -A config beat` (make run embeds it in its worker with --beat).
    beat_schedule={
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
        # An approved transition request whose apply task was lost would stay `approved` forever.
        "requeue-approved-transition-requests": {
            "task": "modelgate.requeue_approved_transition_requests",
            "schedule": 60.0,
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
