from __future__ import annotations

from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "registry"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The serving read cache: its invalidation subscriber must run wherever registry events are emitted.
        from . import readcache  # noqa: F401

        # Webhooks: the outbox subscriber must be registered in every process that emits events (web, workers,
        # commands), and the delivery tasks in every worker (Celery only autodiscovers `registry.tasks`).
        from .webhooks import outbox, tasks  # noqa: F401
