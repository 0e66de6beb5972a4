from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def recompute_progress(user_ids: list[int]) -> int:
    """Idempotent: progress is recomputed from results, whatever ran before; the people go
    through in batches of ``services.RECOMPUTE_BATCH``, each batch's rows locked in order so
    two runs for the same person take turns."""
    return services.recompute_progress(list(user_ids))


@shared_task(acks_late=True)
def recompute_runs_ended() -> int:
    """Periodic (the beat schedule): the people whose run has just ended."""
    return services.recompute_runs_ended()
