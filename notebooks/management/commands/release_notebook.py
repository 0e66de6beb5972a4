"""``manage.py release_notebook``: write the student version of a source notebook."""

from typing import TextIO, cast

from django.core.management.base import BaseCommand, CommandError

from notebooks.grader.cli import CommandFailed, run_release


class Command(BaseCommand):
    help = "Write the student version of a source notebook (solutions and hidden tests removed)."
    requires_system_checks: list = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("source", help="the source (instructor) notebook")
        parser.add_argument("--output", required=True, help="where to write the student version")

    def handle(self, *args, **options):
        try:
            # the wrapped stream (the stubs know no ``_out``: it reads as a method)
            run_release(options["source"], options["output"], err=cast(TextIO, self.stderr._out))
        except CommandFailed as exc:
            raise CommandError(str(exc)) from None
