"""Celery tasks of the labs side: thin, taking ids, idempotent (delivery is at-least-once)."""

from __future__ import annotations

import socket

from celery import shared_task

from . import cluster_grading, services
from . import worker as _worker  # noqa: F401 - connects the kernel-pool signal handlers
from .grading import GraderUnavailable

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
    worker = getattr(self.request, "hostname", None) or socket.gethostname()
    try:
        if cluster_grading.graded_on_cluster(submission_id):  # a Slurm job; poll_grading_jobs
            return cluster_grading.grading_job_start(submission_id=submission_id, number=number)
        result = services.grading_run_execute(
            submission_id=submission_id, number=number, worker=worker
        )
    except RETRY_ON as exc:
        if self.request.retries >= MAX_RETRIES:
            services.grading_run_fail(
                submission_id=submission_id,
                number=number,
                reason=f"grading infrastructure failed: {exc}",
            )
            return "failed"
        raise
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
    """ "Test this version": grade the source's solution and the student version."""
    try:
        check = services.version_check_execute(check_id=check_id)
    except RETRY_ON as exc:
        if self.request.retries >= MAX_RETRIES:
            services.version_check_fail(
                check_id=check_id, reason=f"grading infrastructure failed: {exc}"
            )
            return "failed"
        raise
    return check.status if check is not None else "missing"
