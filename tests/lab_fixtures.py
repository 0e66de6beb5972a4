"""A released GPU lab on a run with an enrolled student: shared by the sessions tests."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from courses.models import Course, CourseRun, CourseStaff, Enrolment, EnrolmentState
from notebooks import services as lab_services
from notebooks.models import ResourceProfile

CONFORMANCE = Path(__file__).resolve().parent / "grader" / "fixtures"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "nbgrader"


def source_notebook() -> bytes:
    for folder in (CONFORMANCE, SHARED):
        path = folder / "submitted-unchanged.ipynb"
        if path.exists():
            return path.read_bytes()
    raise FileNotFoundError("conformance notebook submitted-unchanged.ipynb")


@pytest.fixture
def lab_setup(people, settings):  # type: ignore[no-untyped-def]
    """A run with a GPU lab released, the student enrolled (cohort A), budgets set."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    now = timezone.now()
    course = Course.objects.create(code="GPU101", title="GPU programming", is_published=True)
    run = CourseRun.objects.create(
        course=course,
        title="2026",
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=60),
        enrolment_opens_at=now - timedelta(days=2),
        enrolment_closes_at=now + timedelta(days=30),
        gpu_budget_hours=Decimal("10"),
        gpu_hours_per_student=Decimal("2"),
    )
    CourseStaff.objects.create(run=run, user=people.instructor)
    Enrolment.objects.create(
        run=run, user=people.student, state=EnrolmentState.ACTIVE, cohort=people.cohort_a
    )
    profile = ResourceProfile.objects.create(
        name="gpu-1", partition="gpu", gpus=1, cpus=1, memory_gb=2, max_walltime_minutes=60
    )
    lab = lab_services.lab_create(
        actor=people.instructor,
        run=run,
        title="Lab one",
        due_at=now + timedelta(days=7),
        resource_profile=profile,
    )
    lab_services.lab_version_upload(actor=people.instructor, lab=lab, content=source_notebook())
    lab_services.lab_release(actor=people.instructor, lab=lab)
    lab.refresh_from_db()

    class Setup:
        pass

    s = Setup()
    s.run, s.lab, s.profile, s.student, s.people = run, lab, profile, people.student, people
    return s


@pytest.fixture
def stop_sessions_after():  # type: ignore[no-untyped-def]
    """Real-stack tests: whatever happens in the test, its lab servers (and Slurm jobs) stop."""
    yield
    from notebooks.sessions import services
    from notebooks.sessions.models import LIVE_STATES, LabSession

    for session in LabSession.objects.filter(state__in=LIVE_STATES).select_related("user", "lab"):
        with contextlib.suppress(Exception):  # teardown must go on
            services.session_stop(actor=None, session=session, reason="test teardown")
