from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def issue_due(user_ids: list[int]) -> int:
    """Idempotent: issues what these people earned and do not hold yet."""
    return services.issue_due(list(user_ids))


@shared_task(acks_late=True)
def issue_runs_ended() -> int:
    """Periodic (the beat schedule): certificates of the runs that just ended."""
    return services.issue_runs_ended()


@shared_task(acks_late=True)
def run_job(job_id: int) -> int:
    """A bulk issuing job; safe to deliver twice (issued people are skipped)."""
    return services.run_job(job_id).issued
