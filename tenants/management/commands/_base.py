from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.errors import ModelgateError


class OneLineParser(CommandParser):
    """Argument errors as one line (`manage.py create_user: error: …`) instead of argparse's usage block, so every
    bad input ends with the same one-line reason and a non-zero exit."""

    def error(self, message):
        if self.called_from_command_line:
            self.exit(2, f"{self.prog}: error: {message}\n")
        raise CommandError(f"Error: {message}")


class ServiceCommand(BaseCommand):
    """A command whose service errors end it with a one-line reason and a non-zero exit."""

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        # BaseCommand builds a CommandParser itself and offers no hook for the class: swap it in place.
        parser.__class__ = OneLineParser
        return parser

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except ModelgateError as exc:
            raise CommandError(
                exc.message, returncode=2 if exc.code == "RESOURCE_DOES_NOT_EXIST" else 1
            ) from exc
