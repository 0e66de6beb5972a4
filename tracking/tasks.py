"""Background work of the tracking side: every task is idempotent (snapshots and daily rows
are recomputed from the results and the raw events, whatever ran before)."""

from __future__ import annotations

from celery import shared_task

from . import digest, services


@shared_task(acks_late=True)
def refresh_enrolments(enrolment_ids: list[int]) -> int:
    """The snapshots of these enrolments (sent after the commit of whatever changed them)."""
    return services.refresh_enrolments(list(enrolment_ids))


@shared_task(acks_late=True)
def summarise(pairs: list[list[int]]) -> int:
    """The dashboard's summaries of these (institution, run) pairs (sent after the commit of a
    deletion that took snapshots with it)."""
    return services.summarise((institution, run) for institution, run in pairs)


@shared_task(acks_late=True)
def refresh_all() -> int:
    """Nightly (the beat schedule): every enrolment of the runs under way or recently ended."""
    return services.refresh_all()


@shared_task(acks_late=True)
def roll_up() -> int:
    """Every 5 minutes (the beat schedule): new events into the daily rows."""
    return services.roll_up(settle_seconds=services.ROLLUP_SETTLE_SECONDS)


@shared_task(acks_late=True)
def purge_events() -> int:
    """Daily (the beat schedule): raw events past ``ACTIVITY_RETENTION_DAYS``."""
    return services.purge_events()


@shared_task(acks_late=True)
def send_weekly_digests() -> int:
    """Hourly (the beat schedule): the weekly digests that are due (``tracking.digest``: on or
    after Monday 07:00, once a week per admin and institution, unless they opted out)."""
    return digest.send_due()
