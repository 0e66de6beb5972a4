"""Rebuild what institutions read of their people: the enrolment snapshots, the daily
roll-ups and the dashboard's per-cohort summaries.  For an installation that had enrolments
before tracking existed, after a restore, and for the benchmark's generated data.
Idempotent: run it as often as you like."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandParser

from tracking import services


class Command(BaseCommand):
    help = "Roll up new learning events and recompute every enrolment snapshot."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--rebuild-rollups",
            action="store_true",
            help="Recompute every daily row from the raw events kept (not only new events).",
        )
        parser.add_argument(
            "--recent",
            action="store_true",
            help="Only the runs not ended more than 30 days ago (what the nightly task does).",
        )

    def handle(
        self, *args: object, rebuild_rollups: bool = False, recent: bool = False, **options: object
    ) -> None:
        started = time.monotonic()
        rows = services.rebuild_rollups() if rebuild_rollups else services.roll_up()
        self.stdout.write(f"daily activity rows written: {rows}")
        snapshots = services.refresh_all() if recent else services.refresh_everything()
        self.stdout.write(f"enrolment snapshots written: {snapshots}")
        summaries = services.rebuild_summaries()
        self.stdout.write(f"cohort summaries written: {summaries}")
        self.stdout.write(f"done in {time.monotonic() - started:.1f} s")
