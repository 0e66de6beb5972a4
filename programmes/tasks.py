from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def recompute_progress(user_ids: list[int]) -> int:
    """Idempotent: progress is recomputed from results, whatever ran before."""
    return services.recompute_progress(list(user_ids))
