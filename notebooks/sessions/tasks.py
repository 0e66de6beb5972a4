"""Celery tasks of the sessions side: thin, idempotent, taking ids."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from notebooks.clients.slurm import SlurmError

from . import services


@shared_task(name="labsessions.start")
def start_session(session_id: int) -> str:
    session = services.session_start(session_id=session_id)
    return session.state if session else "missing"


@shared_task(name="labsessions.refresh_live")
def refresh_live() -> int:
    return services.refresh_live_sessions()


@shared_task(name="labsessions.cull_idle")
def cull_idle() -> int:
    return services.cull_idle_sessions()


@shared_task(
    name="labsessions.sync_usage", autoretry_for=(SlurmError,), retry_backoff=True, max_retries=3
)
def sync_usage() -> int:
    return services.sync_usage()


@shared_task(name="labsessions.sweep_stray_servers")
def sweep_stray_servers() -> int:
    if not settings.HUB_API_TOKEN:  # no hub configured: nothing to sweep
        return 0
    return services.sweep_stray_servers()
