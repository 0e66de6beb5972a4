"""Fixtures of the labs side: a private file root per test, a run with staff and students,
a released lab."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from academy.celery import app
from courses.models import CourseStaff, Enrolment, EnrolmentState, StaffRole
from notebooks import services
from tests.factories import CourseRunFactory, UserFactory

from .factories import LabFactory, fixture


@pytest.fixture(autouse=True)
def _private_root(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.NOTEBOOKS_PRIVATE_ROOT = tmp_path / "private"
    settings.NOTEBOOK_GRADING_TIMEOUT = 10


@pytest.fixture
def eager():  # type: ignore[no-untyped-def]
    """Run Celery tasks inline (unit tests); combine with django_capture_on_commit_callbacks."""
    before = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.update(task_always_eager=True, task_eager_propagates=True)
    yield
    app.conf.update(task_always_eager=before[0], task_eager_propagates=before[1])


@pytest.fixture
def course(people):  # type: ignore[no-untyped-def]
    """A run taught by people.instructor (+ a TA), people.student and people.student_b enrolled,
    and a second run with its own instructor."""
    run = CourseRunFactory()
    other_run = CourseRunFactory()
    CourseStaff.objects.create(run=run, user=people.instructor, role=StaffRole.INSTRUCTOR)
    ta = UserFactory(username="ta")
    CourseStaff.objects.create(run=run, user=ta, role=StaffRole.TEACHING_ASSISTANT)
    other_instructor = UserFactory(username="otherinstructor")
    CourseStaff.objects.create(run=other_run, user=other_instructor, role=StaffRole.INSTRUCTOR)
    Enrolment.objects.create(
        run=run, user=people.student, state=EnrolmentState.ACTIVE, cohort=people.cohort_a
    )
    Enrolment.objects.create(
        run=run, user=people.student_b, state=EnrolmentState.ACTIVE, cohort=people.cohort_b
    )
    return SimpleNamespace(
        run=run, other_run=other_run, ta=ta, other_instructor=other_instructor, people=people
    )


@pytest.fixture
def lab(course):  # type: ignore[no-untyped-def]
    """The nbgrader conformance lab (basic), uploaded and released."""
    lab = LabFactory(run=course.run, title="Basic lab")
    services.lab_version_upload(
        actor=course.people.instructor, lab=lab, content=fixture("submitted-unchanged.ipynb")
    )
    services.lab_release(actor=course.people.instructor, lab=lab)
    lab.refresh_from_db()
    return lab
