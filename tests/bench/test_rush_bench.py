"""Benchmark (prints, never fails on time): a deadline rush through the grading queue.

At full scale (``BENCH_RUSH_SCALE=1``): 500 students each submit 4 times (2,000 submissions) at
random moments within 5 minutes to one lab, while 20 students of another lab (another run)
submit once each in the same 5 minutes.  A real Celery worker (prefork, 2 processes, Redis,
PostgreSQL) grades with the real sandbox.  Prints p50 and p95 of the time from submission to
score for the graded submissions of each lab, how many were superseded, and checks that nothing
was lost (every student's latest submission graded, every other one graded or superseded).

Scaled (the default, ``BENCH_RUSH_SCALE=0.1``): students, submissions and the arrival window
all shrink by the factor (50 students x 4 submissions in 30 s, 2 students of the other lab), so
the arrival rate stays that of the full rush (6.7 submissions a second) and the run takes a few
minutes on a 2-core machine.

``BENCH_RUSH_WINDOW`` (seconds) replaces the arrival window, for a rush faster than the grading:
``BENCH_RUSH_SCALE=1 BENCH_RUSH_WINDOW=30`` sends the 2,000 submissions in 30 s.

Run: make bench PYTEST_ARGS="-k rush"   (figures: docs/benchmarks.md, "Deadline rush")
"""

from __future__ import annotations

import os
import random
import statistics
import time
import uuid
from collections import Counter

import pytest
from django.db.models import F

from academy.celery import app
from courses.models import CourseStaff, Enrolment, EnrolmentState, StaffRole
from notebooks import services
from notebooks.models import GradingRun, Submission, SubmissionStatus
from tests.factories import CourseRunFactory, UserFactory
from tests.notebooks.factories import LabFactory, small_lab
from tests.worker import Worker, wait_for

SCALE = float(os.environ.get("BENCH_RUSH_SCALE", "0.1"))
STUDENTS = max(2, round(500 * SCALE))
PER_STUDENT = 4
OTHER_STUDENTS = max(2, round(20 * SCALE))
# Seconds over which the submissions arrive; BENCH_RUSH_WINDOW squeezes them (a harder rush than
# the issue's, for a machine that keeps up with 6.7 a second and so never forms a queue).
WINDOW = float(os.environ.get("BENCH_RUSH_WINDOW") or 300 * SCALE)
CONCURRENCY = 2

pytestmark = [pytest.mark.bench, pytest.mark.django_db(transaction=True)]


def _lab(title: str):  # type: ignore[no-untyped-def]
    run = CourseRunFactory()
    instructor = UserFactory(username=f"i-{uuid.uuid4().hex[:8]}")
    CourseStaff.objects.create(run=run, user=instructor, role=StaffRole.INSTRUCTOR)
    lab = LabFactory(run=run, title=title)
    services.lab_version_upload(actor=instructor, lab=lab, content=small_lab())
    services.lab_release(actor=instructor, lab=lab)
    lab.refresh_from_db()
    return lab


def _people(lab, n: int):  # type: ignore[no-untyped-def]
    people = [UserFactory(username=f"r-{uuid.uuid4().hex[:10]}") for _ in range(n)]
    Enrolment.objects.bulk_create(
        Enrolment(run=lab.run, user=p, state=EnrolmentState.ACTIVE) for p in people
    )
    return people


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def test_deadline_rush(tmp_path, settings):  # type: ignore[no-untyped-def]
    settings.SUBMISSION_RATE_LIMIT = 0
    settings.NOTEBOOKS_PRIVATE_ROOT = tmp_path / "private"  # the worker's, from ACADEMY_VAR_DIR
    rush, other = _lab("Rush"), _lab("Other")
    rng = random.Random(15)
    arrivals = [
        (rng.uniform(0, WINDOW), rush, person)
        for person in _people(rush, STUDENTS)
        for _ in range(PER_STUDENT)
    ] + [(rng.uniform(0, WINDOW), other, person) for person in _people(other, OTHER_STUDENTS)]
    arrivals.sort(key=lambda a: a[0])
    content = small_lab()
    worker = Worker(
        concurrency=CONCURRENCY,
        extra_env={"ACADEMY_VAR_DIR": str(tmp_path), "SUBMISSION_RATE_LIMIT": "0"},
    )
    app.conf.task_default_queue = worker.queue
    try:
        worker.start()
        wait_for(
            lambda: worker.log.exists() and " ready." in worker.log.read_text(errors="replace"),
            timeout=90,
            what="the worker to be ready",
        )
        start = time.monotonic()
        behind = 0.0
        for at, lab, person in arrivals:
            delay = at - (time.monotonic() - start)
            if delay > 0:
                time.sleep(delay)
            else:
                behind = max(behind, -delay)
            services.submission_create(actor=person, lab=lab, content=content)
        arrived = time.monotonic() - start

        def settled() -> bool:
            return not Submission.objects.filter(
                status__in=[SubmissionStatus.QUEUED, SubmissionStatus.RUNNING]
            ).exists()

        wait_for(settled, timeout=600 + 10 * len(arrivals), interval=1, what="the rush graded")
        total = time.monotonic() - start
    finally:
        worker.stop()
        app.conf.task_default_queue = settings.CELERY_TASK_DEFAULT_QUEUE

    # Nothing lost: each student's latest submission is graded; the rest graded or superseded.
    subs = list(Submission.objects.filter(lab__in=[rush, other]).order_by("student", "attempt"))
    latest = {}
    for sub in subs:
        latest[(sub.lab_id, sub.student_id)] = sub
    statuses = Counter(s.status for s in subs)
    print(f"\nstatuses: {dict(statuses)}")
    assert all(s.status == SubmissionStatus.GRADED for s in latest.values()), [
        (s.status, s.reason) for s in latest.values() if s.status != SubmissionStatus.GRADED
    ][:5]
    assert {s.status for s in subs} <= {SubmissionStatus.GRADED, SubmissionStatus.SUPERSEDED}
    assert len(subs) == len(arrivals)

    lines = [
        "",
        f"Deadline rush (scale {SCALE:g}): {STUDENTS} students x {PER_STUDENT} submissions to one "
        f"lab and {OTHER_STUDENTS} of another lab in another run, arriving within {WINDOW:.0f} s "
        f"(arrivals done at {arrived:.1f} s, at most {behind:.1f} s behind schedule); "
        f"{CONCURRENCY} worker processes, {os.cpu_count()} CPUs",
    ]
    for lab in (rush, other):
        waits = [
            (finished - submitted).total_seconds()
            for submitted, finished in GradingRun.objects.filter(submission__lab=lab)
            .filter(number=F("submission__grading_number"))
            .values_list("submission__submitted_at", "finished_at")
        ]
        graded = sum(1 for s in subs if s.lab_id == lab.pk and s.status == "graded")
        superseded = sum(1 for s in subs if s.lab_id == lab.pk and s.status == "superseded")
        lines.append(
            f"  {lab.title}: {graded} graded, {superseded} superseded; submission to score "
            f"p50 {_pct(waits, 50):.1f} s, p95 {_pct(waits, 95):.1f} s, max {max(waits):.1f} s"
        )
    lines.append(f"  everything graded {total:.1f} s after the first arrival; nothing lost")
    print("\n".join(lines))
