from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from config.errors import ModelgateError


class ServiceCommand(BaseCommand):
    """A command whose service errors end it with a one-line reason and a non-zero exit."""

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except ModelgateError as exc:
            raise CommandError(exc.message, returncode=2 if exc.code == "RESOURCE_DOES_NOT_EXIST" else 1) from exc
