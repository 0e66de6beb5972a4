"""Page query counts are pinned and do not grow with rows: each test builds N rows, counts,
builds 2N more, counts again."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from courses import services
from courses.models import LessonCompletion
from tests.factories import (
    CourseFactory,
    CourseRunFactory,
    CourseStaffFactory,
    EnrolmentFactory,
    LessonFactory,
    ModuleFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def queries(client, url: str) -> int:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx)


def same_count(client, url, grow, pinned):  # type: ignore[no-untyped-def]
    grow(1)
    first = queries(client, url)
    grow(2)
    assert queries(client, url) == first == pinned


def test_catalogue(client, people):
    def grow(k):  # type: ignore[no-untyped-def]
        for _ in range(10 * k):
            CourseRunFactory(course=CourseFactory(sectors=["health", "energy"]))

    client.force_login(people.student)
    # session, user, staff runs (drafts they teach), count, page of courses (with is_open),
    # languages, nav roles
    same_count(client, "/courses/?sector=health&open=1", grow, 7)


def test_course_page(client, people):
    course = CourseFactory()
    prereq = CourseFactory()
    course.prerequisites.add(prereq)

    def grow(k):  # type: ignore[no-untyped-def]
        for _ in range(3 * k):
            run = CourseRunFactory(course=course, is_public=False)
            run.allowed_institutions.add(people.inst_a)
            CourseStaffFactory(run=run)
            EnrolmentFactory(run=run)
        EnrolmentFactory(run=run, user=people.student, state="waitlisted")

    client.force_login(people.student)
    # session, user, staff runs, course, prerequisites, recommended (shown since issue 11),
    # runs, allowed institutions, allowed cohorts, staff+users, member institutions, cohorts,
    # passed courses (the labs side's finished enrolments: none, so no grading queries), my
    # enrolments, programmes the course counts towards (issue 11), nav
    same_count(client, f"/courses/{course.code}/", grow, 16)


def test_roster(client, people):
    run = CourseRunFactory()
    CourseStaffFactory(run=run, user=people.instructor)

    def grow(k):  # type: ignore[no-untyped-def]
        for _ in range(60 * k):
            EnrolmentFactory(run=run, cohort=people.cohort_a)

    client.force_login(people.instructor)
    # session, user, nav, run, staff runs, count, page, cohorts, institutions, state counts
    same_count(client, f"/runs/{run.pk}/roster/?institution={people.inst_a.pk}", grow, 10)


def test_student_dashboard(client, people):
    def grow(k):  # type: ignore[no-untyped-def]
        for _ in range(4 * k):
            lesson = LessonFactory(module=ModuleFactory())
            services.enrolment_request(run=lesson.module.run, user=people.student)
            LessonCompletion.objects.create(lesson=lesson, user=people.student)

    client.force_login(people.student)
    # session, user, enrolments, lesson totals, completions, staff runs,
    # admin institutions (x2: queue check and by-cohort), nav
    same_count(client, "/", grow, 8)


def test_instructor_dashboard(client, people):
    def grow(k):  # type: ignore[no-untyped-def]
        for _ in range(4 * k):
            run = CourseRunFactory(policy="approval")
            CourseStaffFactory(run=run, user=people.instructor)
            services.enrolment_request(run=run, user=UserFactory())

    client.force_login(people.instructor)
    # session, user, enrolments, staff runs, runs with counts, admin ids, queue, nav
    same_count(client, "/", grow, 8)


def test_institution_admin_dashboard(client, people):
    def grow(k):  # type: ignore[no-untyped-def]
        for _ in range(4 * k):
            run = CourseRunFactory()
            for _ in range(3):
                user = UserFactory()
                people.cohort_a.members.add(user)
                EnrolmentFactory(run=run, user=user, cohort=people.cohort_a)

    client.force_login(people.admin_a)
    # session, user, enrolments, staff runs, admin ids, queue, by cohort, nav
    same_count(client, "/", grow, 8)
