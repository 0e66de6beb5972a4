"""The upload path with a REAL Celery worker and broker (Redis), and a worker SIGKILLed in the
middle of grading: the submission is graded exactly once after a new worker comes back.

Run with the broker in the environment, e.g.
  CELERY_BROKER_URL=redis://127.0.0.1:6379/7 DEBUG=1 .venv/bin/python -m pytest -m integration \
      tests/notebooks/test_worker_integration.py
Each test uses a queue of its own (tests/worker.py), so parallel runs do not cross.
"""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings

from academy.celery import app
from notebooks import services
from notebooks.models import (
    GradingOutcome,
    GradingRun,
    GradingRunStatus,
    Submission,
    SubmissionStatus,
)
from notebooks.tasks import MAX_RETRIES
from tests.worker import Worker, routed_worker, wait_for

from .factories import LabFactory, fixture, small_lab

# Without the Redis broker these tests fail (tests/worker.py says why); they never skip.
pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker_env(tmp_path):  # type: ignore[no-untyped-def]
    # The worker's private file root is this test's (tests/notebooks/conftest.py sets
    # NOTEBOOKS_PRIVATE_ROOT = tmp_path / "private"; the worker derives it from ACADEMY_VAR_DIR).
    return {"ACADEMY_VAR_DIR": str(tmp_path)}


def _final(pk: int):  # type: ignore[no-untyped-def]
    sub = Submission.objects.get(pk=pk)
    return sub if sub.is_final else None


@pytest.mark.parametrize(
    ("name", "score", "status"),
    [
        ("submitted-unchanged.ipynb", Decimal(1), SubmissionStatus.GRADED),
        ("submitted-cheat-attempt.ipynb", Decimal(1), SubmissionStatus.NEEDS_MANUAL),
    ],
)
def test_the_upload_path_grades_through_a_real_worker(lab, course, worker_env, name, score, status):  # type: ignore[no-untyped-def]
    with routed_worker(worker_env) as worker:
        sub = services.submission_create(
            actor=course.people.student, lab=lab, content=fixture(name)
        )
        sub = wait_for(lambda: _final(sub.pk), timeout=120, what="graded")
    assert (sub.status, sub.score, sub.max_score) == (status, score, Decimal(7)), sub.reason
    assert sub.latest_run.worker.startswith(worker.queue)


def test_a_sigkilled_worker_loses_nothing_and_grades_once(course, worker_env):  # type: ignore[no-untyped-def]
    instructor = course.people.instructor
    lab = LabFactory(run=course.run)
    services.lab_version_upload(actor=instructor, lab=lab, content=small_lab(sleep=6))
    services.lab_release(actor=instructor, lab=lab)
    lab.refresh_from_db()
    short = {
        **worker_env,
        "CELERY_VISIBILITY_TIMEOUT": "10",
        "CELERY_UNACKED_RESTORE_INTERVAL": "2",
        "CELERY_UNACKED_RESTORE_THROTTLE": "1",
    }
    first = Worker(extra_env=short).start()
    app.conf.task_default_queue = first.queue
    try:
        sub = services.submission_create(
            actor=course.people.student, lab=lab, content=small_lab(sleep=6)
        )
        wait_for(
            lambda: GradingRun.objects.filter(submission=sub, status="running").exists(),
            timeout=90,
            what="grading to start",
        )
        time.sleep(1.5)  # in the middle of the 6 s answer cell
        first.kill()
        killed_at = time.monotonic()
        assert Submission.objects.get(pk=sub.pk).status == SubmissionStatus.RUNNING
        with Worker(queue=first.queue, extra_env=short):
            sub = wait_for(lambda: _final(sub.pk), timeout=150, what="graded after the restart")
        recovered = time.monotonic() - killed_at
    finally:
        first.kill()
        app.conf.task_default_queue = settings.CELERY_TASK_DEFAULT_QUEUE
    print(f"\nrecovered {recovered:.1f} s after the SIGKILL")
    assert sub.status == SubmissionStatus.GRADED and sub.score == Decimal(1), sub.reason
    runs = list(GradingRun.objects.filter(submission=sub))
    assert len(runs) == 1 and runs[0].status == GradingRunStatus.DONE
    assert runs[0].deliveries == 2  # the first delivery died with the worker


def test_retries_run_out_and_the_submission_ends_failed_not_stuck(lab, course, worker_env):  # type: ignore[no-untyped-def]
    """An infrastructure failure that does not go away (the stored submission is gone from the
    private storage): the task retries MAX_RETRIES times with backoff, then the exhaustion
    branch records the failure, so the student sees "failed" with the reason, not "queued"."""
    with routed_worker(worker_env, started=False) as worker:
        sub = services.submission_create(
            actor=course.people.student, lab=lab, content=fixture("submitted-unchanged.ipynb")
        )
        # The task waits in the broker until the worker starts: no grading can begin first.
        Path(sub.file.path).unlink()
        started = time.monotonic()
        worker.start()
        # Backoff 2 s doubling with jitter, five retries: at most 2+4+8+16+32 = 62 s.
        sub = wait_for(lambda: _final(sub.pk), timeout=150, what="the retries to run out")
    print(f"\nfailed visibly {time.monotonic() - started:.1f} s after the worker started")
    assert sub.status == SubmissionStatus.FAILED
    assert sub.reason.startswith("grading infrastructure failed:"), sub.reason
    run = GradingRun.objects.get(submission=sub)
    assert (run.status, run.outcome) == (GradingRunStatus.FAILED, GradingOutcome.ERROR)
    assert run.reason == sub.reason and run.finished_at is not None
    assert run.deliveries == MAX_RETRIES + 1  # the first delivery and every retry
