from __future__ import annotations

from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "registry.tracking"
    label = "tracking"
    default_auto_field = "django.db.models.BigAutoField"
