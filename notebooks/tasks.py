"""Celery tasks of the labs side: thin, taking ids, idempotent (delivery is at-least-once)."""

from __future__ import annotations

import logging
import socket

from celery import shared_task

from academy.celery import app

from . import cluster_grading, queue, services
from . import worker as _worker  # noqa: F401 - connects the kernel-pool signal handlers
from .grading import GraderUnavailable
from .models import TicketState, VersionCheck

log = logging.getLogger(__name__)

# Infrastructure failures only: a kernel that does not start, a full disk.  A student's code
# failing (exception, timeout, memory) is a grading result and is never retried.
RETRY_ON = (OSError, GraderUnavailable)
MAX_RETRIES = 5


@shared_task(
    bind=True,
    autoretry_for=RETRY_ON,
    retry_backoff=2,
    retry_backoff_max=120,
    retry_jitter=True,
    max_retries=MAX_RETRIES,
)
def grade_submission(self, submission_id: int, number: int) -> str:  # type: ignore[no-untyped-def]
    """Grade the fairest ticket of the queue (``notebooks.queue``).  The submission and number
    name the ticket that caused this message, not necessarily the one it grades.  A retry or
    a redelivery of this message (same id) continues the ticket it claimed."""
    worker = getattr(self.request, "hostname", None) or socket.gethostname()
    ticket = queue.claim(token=self.request.id or "", worker=worker)
    if ticket is None:
        return "idle"
    assert ticket.number is not None  # drawn by the claim
    try:
        if cluster_grading.graded_on_cluster(ticket.submission_id):  # a Slurm job from here on
            status = cluster_grading.grading_job_start(
                submission_id=ticket.submission_id, number=ticket.number
            )
            queue.finish(ticket_id=ticket.pk, state=TicketState.DONE, on_cluster=True, note=status)
            return status
        result = services.grading_run_execute(
            submission_id=ticket.submission_id, number=ticket.number, worker=worker
        )
    except RETRY_ON as exc:
        if self.request.retries >= MAX_RETRIES:
            reason = f"grading infrastructure failed: {exc}"
            services.grading_run_fail(
                submission_id=ticket.submission_id, number=ticket.number, reason=reason
            )
            queue.finish(ticket_id=ticket.pk, state=TicketState.FAILED, note=reason)
            return "failed"
        raise
    queue.finish(ticket_id=ticket.pk, state=TicketState.DONE, note=result.status)
    return result.status


@shared_task
def poll_grading_jobs() -> int:
    """Beat: follow the grading jobs on the cluster (queued, running, ended, retried)."""
    return cluster_grading.poll()


@shared_task(
    bind=True,
    autoretry_for=RETRY_ON,
    retry_backoff=2,
    retry_backoff_max=120,
    retry_jitter=True,
    max_retries=MAX_RETRIES,
)
def check_version(self, check_id: int) -> str:  # type: ignore[no-untyped-def]
    """ "Test this version": grade the source's solution and the student version, here in the
    CPU sandbox or, for a lab graded on the cluster, as a Slurm job the poll follows."""
    try:
        if VersionCheck.objects.filter(pk=check_id).exclude(job_name="").exists():
            cluster_grading.check_job_start(check_id=check_id)
            return "submitted"
        check = services.version_check_execute(check_id=check_id)
    except RETRY_ON as exc:
        if self.request.retries >= MAX_RETRIES:
            services.version_check_fail(
                check_id=check_id, reason=f"grading infrastructure failed: {exc}"
            )
            return "failed"
        raise
    return check.status if check is not None else "missing"


@shared_task
def sweep_grading_spool() -> int:
    """Beat: remove the spool folders of jobs that ended long enough ago."""
    return cluster_grading.spool_sweep()


@shared_task
def sweep_grading_queue() -> int:
    """Beat: send messages again for tickets left without one (the queue stood still)."""
    return queue.sweep(waiting_messages=_waiting_messages())


def _waiting_messages() -> int | None:
    """Messages waiting in the default queue, as the broker counts them (None: it cannot say).
    Every task in the queue counts, not only grading messages: the sweep errs towards sending
    too few (a later sweep sends the rest), never floods.  Declaring the queue the workers
    consume is harmless, and answers 0 where a broker has dropped an empty queue (Redis)."""
    try:
        with app.connection_for_read() as conn:
            declared = conn.default_channel.queue_declare(
                queue=app.conf.task_default_queue, durable=True, auto_delete=False
            )
        return int(declared.message_count)
    except Exception as exc:  # any broker error: the sweep then assumes none wait
        log.warning("could not count the waiting messages: %s", exc)
        return None
