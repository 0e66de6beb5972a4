"""Builders of the programmes side: a course result in a few lines, a programme built through
the services (as staff build one), eager tasks so progress follows at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from academy.celery import app
from academy.models import User
from courses.models import Course, CourseRun, Enrolment, EnrolmentState
from notebooks.models import Lab, Submission
from programmes import services
from programmes.models import Programme, Requirement, Rule
from tests.factories import CourseFactory, CourseRunFactory, OperatorFactory


@pytest.fixture(autouse=True)
def _eager_celery():  # type: ignore[no-untyped-def]
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def finished_run(course: Course) -> CourseRun:
    """A run of ``course`` that ended yesterday, with one lab."""
    now = timezone.now()
    run = CourseRunFactory(
        course=course,
        enrolment_opens_at=now - timedelta(days=90),
        enrolment_closes_at=now - timedelta(days=80),
        starts_at=now - timedelta(days=70),
        ends_at=now - timedelta(days=1),
    )
    Lab.objects.create(run=run, title=f"{course.code} lab", due_at=now - timedelta(days=5))
    return run


def result(user: User, run: CourseRun, percent: int | None) -> Submission | None:
    """``user`` took ``run`` and scored ``percent`` on its lab (None: enrolled, nothing
    handed in).  Saved as the grader does, so the receivers see it."""
    Enrolment.objects.get_or_create(run=run, user=user, defaults={"state": EnrolmentState.ACTIVE})
    if percent is None:
        return None
    lab = run.labs.get()
    submission, _ = Submission.objects.update_or_create(
        lab=lab,
        student=user,
        attempt=1,
        defaults={
            "file": "x.ipynb",
            "sha256": "0" * 64,
            "status": "graded",
            "score": Decimal(percent),
            "max_score": Decimal(100),
        },
    )
    return submission


def passed(user: User, course: Course, percent: int = 80) -> CourseRun:
    run = finished_run(course)
    result(user, run, percent)
    return run


@dataclass
class Foundation:
    """ "AI engineer, foundation": GPU101, then 2 of {MED, ENE, LLM}, then the capstone."""

    programme: Programme
    operator: User
    gpu: Course
    electives: list[Course]
    capstone: Course
    root: Requirement
    elective_set: Requirement


def build_foundation(operator: User | None = None, *, publish: bool = True) -> Foundation:
    operator = operator or OperatorFactory()
    gpu = CourseFactory(code="GPU101")
    electives = [CourseFactory(code=c) for c in ("MED210", "ENE220", "LLM230")]
    capstone = CourseFactory(code="CAP300")
    programme = services.programme_create(
        actor=operator, code="ai-foundation", title="AI engineer, foundation", ects=Decimal(20)
    )
    root = Requirement.objects.get(version__programme=programme, parent=None)
    services.requirement_change(actor=operator, requirement=root, rule=Rule.ALL_IN_ORDER)
    services.requirement_add(actor=operator, parent=root, course=gpu, points=5)
    elective_set = services.requirement_add(
        actor=operator, parent=root, rule=Rule.AT_LEAST, count=2, title="Two electives"
    )
    for course in electives:
        services.requirement_add(
            actor=operator, parent=elective_set, course=course, points=5, min_grade=Decimal(60)
        )
    services.requirement_add(actor=operator, parent=root, course=capstone, points=5)
    if publish:
        services.version_publish(actor=operator, version=programme.versions.get())
    return Foundation(programme, operator, gpu, electives, capstone, root, elective_set)


@pytest.fixture
def foundation(transactional_db) -> Foundation:  # type: ignore[no-untyped-def]
    return build_foundation()
