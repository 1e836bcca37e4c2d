from __future__ import annotations

from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "registry"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Webhooks: the outbox subscriber must be registered in every process that emits events (web, workers,
        # commands), and the delivery tasks in every worker (Celery only autodiscovers `registry.tasks`).
        from .webhooks import outbox, tasks  # noqa: F401
