"""``manage.py grade_notebook``: grade one submission (no database needed)."""

from typing import TextIO, cast

from django.core.management.base import BaseCommand, CommandError

from notebooks.grader.cli import CommandFailed, run_grade


class Command(BaseCommand):
    help = "Grade a submission against its source notebook; --json prints one JSON object."
    requires_system_checks: list = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("--source", required=True, help="the source (instructor) notebook")
        parser.add_argument("--submission", required=True, help="the student's notebook")
        parser.add_argument("--timeout", type=float, help="per-cell timeout in seconds")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **options):
        try:
            run_grade(
                options["source"],
                options["submission"],
                timeout=options["timeout"],
                as_json=options["json"],
                # the wrapped streams (the stubs know no ``_out``: it reads as a method)
                out=cast(TextIO, self.stdout._out),
                err=cast(TextIO, self.stderr._out),
            )
        except CommandFailed as exc:
            raise CommandError(str(exc)) from None
