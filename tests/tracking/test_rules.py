"""Attribution, the privacy rule under every figure: an enrolment's activity belongs to its
cohort's institution; without a cohort to the person's one institution; a person in two
institutions without a cohort belongs to neither (stored NULL, never rolled up)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from academy.celery import app
from courses.models import Enrolment, EnrolmentState
from tests.factories import CourseRunFactory, InstitutionFactory, UserFactory, member
from tracking import rules, services
from tracking.models import DailyActivity, EnrolmentSnapshot, LearningEvent

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_marks_of_earlier_tests():  # type: ignore[no-untyped-def]
    """Marks of a transaction that rolled back ride along with the next commit (harmless in
    production); a test that rolled back never committed, so start each test without them."""
    setattr(connection, services._PENDING, None)
    yield
    setattr(connection, services._PENDING, None)


@pytest.fixture
def eager():  # type: ignore[no-untyped-def]
    before = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.update(task_always_eager=True, task_eager_propagates=True)
    yield
    app.conf.update(task_always_eager=before[0], task_eager_propagates=before[1])


def _enrol(user, run, cohort=None):  # type: ignore[no-untyped-def]
    return Enrolment.objects.create(run=run, user=user, state=EnrolmentState.ACTIVE, cohort=cohort)


def test_the_pure_rule():
    assert rules.attributed(7, []) == 7
    assert rules.attributed(7, [1, 2]) == 7  # the cohort decides, whatever the memberships
    assert rules.attributed(None, [3]) == 3
    assert rules.attributed(None, [3, 4]) is None
    assert rules.attributed(None, []) is None


def test_a_cohort_enrolment_belongs_to_the_cohort_institution_even_for_a_dual_member(people):
    run = CourseRunFactory()
    _enrol(people.dual, run, people.cohort_b)
    services.record_event(user=people.dual, kind="lesson_viewed", run=run, object_id=1)
    event = LearningEvent.objects.get()
    assert event.institution_id == people.inst_b.pk
    assert rules.attribute(people.dual.pk, people.cohort_b.institution_id) == people.inst_b.pk


def test_without_a_cohort_the_one_membership_decides(people):
    run = CourseRunFactory()
    _enrol(people.student, run)
    services.record_event(user=people.student, kind="lesson_viewed", run=run)
    assert LearningEvent.objects.get().institution_id == people.inst_a.pk
    assert rules.attribute(people.student.pk, None) == people.inst_a.pk


def test_a_dual_member_without_a_cohort_belongs_to_nobody_and_is_never_rolled_up(people):
    run = CourseRunFactory()
    enrolment = _enrol(people.dual, run)
    services.record_event(user=people.dual, kind="lesson_viewed", run=run)
    services.record_event(user=people.dual, kind="lab_opened", run=run)
    assert list(LearningEvent.objects.values_list("institution_id", flat=True)) == [None, None]
    assert rules.attribute(people.dual.pk, None) is None
    services.roll_up()
    assert not DailyActivity.objects.exists()
    services.refresh_enrolments([enrolment.pk])
    snapshot = EnrolmentSnapshot.objects.get(enrolment=enrolment)
    assert snapshot.institution_id is None
    # Neither institution's figures count them.
    assert not EnrolmentSnapshot.objects.filter(
        institution__in=[people.inst_a, people.inst_b]
    ).exists()


def test_someone_in_no_institution_is_stored_with_none(people):
    run = CourseRunFactory()
    _enrol(people.outsider, run)
    services.record_event(user=people.outsider, kind="lesson_viewed", run=run)
    assert LearningEvent.objects.get().institution_id is None


def test_joining_a_second_institution_moves_a_cohortless_enrolment_to_nobody(
    people, django_capture_on_commit_callbacks, eager
):
    """A membership change refreshes the attribution of the person's enrolments (after the
    commit, by the task)."""
    run = CourseRunFactory(ends_at=timezone.now() + timedelta(days=30))
    person = member(people.inst_a, username="mover")
    with django_capture_on_commit_callbacks(execute=True):
        enrolment = _enrol(person, run)
    assert EnrolmentSnapshot.objects.get(enrolment=enrolment).institution_id == people.inst_a.pk
    other = InstitutionFactory(name="University C", slug="uni-c")
    with django_capture_on_commit_callbacks(execute=True):
        person.memberships.create(institution=other, role="student")
    assert EnrolmentSnapshot.objects.get(enrolment=enrolment).institution_id is None


def test_policy_defaults_when_none_is_set(people):
    policy = rules.policy_for(people.inst_a.pk)
    assert policy.pk is None and policy.inactive_days == 14
    assert UserFactory()  # the factories work in this module
