"""The dashboard's per-cohort summaries (``CohortSummary``): after whatever changes snapshots
(a refresh, the roll-up, an enrolment moved or deleted, a membership, a cohort deleted), the
rows equal the sums computed live from the snapshots, institution by institution."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from academy.models import Membership
from courses.models import Enrolment, EnrolmentState
from tests.factories import CourseRunFactory, UserFactory, member
from tracking import services
from tracking.models import CohortSummary, EnrolmentSnapshot, EventKind, RollupCursor

from . import test_snapshots
from .test_snapshots import built

# test_snapshots' fixtures: the site's time zone, no marks of earlier tests, Celery eager, the
# refresh tasks sent.
_belgrade = test_snapshots._belgrade
_no_marks_of_earlier_tests = test_snapshots._no_marks_of_earlier_tests
eager = test_snapshots.eager
task_calls = test_snapshots.task_calls

Key = tuple[int | None, int]  # (cohort, run)


def live(institution_id: int) -> dict[Key, dict[str, Any]]:
    """The sums, computed here in Python from the institution's snapshots."""
    out: dict[Key, dict[str, Any]] = defaultdict(
        lambda: {
            "enrolments": 0,
            "active": 0,
            "started": 0,
            "completed": 0,
            "finished": 0,
            "passed": 0,
            "graded": 0,
            "grade_sum": Decimal(0),
            "last_activity_at": None,
        }
    )
    for s in EnrolmentSnapshot.objects.filter(institution_id=institution_id):
        row = out[(s.cohort_id, s.run_id)]
        row["enrolments"] += 1
        row["active"] += s.state == "active"
        row["started"] += s.state in ("active", "completed", "withdrawn")
        row["completed"] += s.state == "completed"
        row["finished"] += s.passed is not None
        row["passed"] += s.passed is True
        if s.grade is not None:
            row["graded"] += 1
            row["grade_sum"] += s.grade
        if s.last_activity_at and (
            row["last_activity_at"] is None or s.last_activity_at > row["last_activity_at"]
        ):
            row["last_activity_at"] = s.last_activity_at
    return dict(out)


FIELDS = (
    "enrolments",
    "active",
    "started",
    "completed",
    "finished",
    "passed",
    "graded",
    "grade_sum",
    "last_activity_at",
)


def kept(institution_id: int) -> dict[Key, dict[str, Any]]:
    return {
        (row.cohort_id, row.run_id): {name: getattr(row, name) for name in FIELDS}
        for row in CohortSummary.objects.filter(institution_id=institution_id)
    }


def assert_matches(people: Any) -> None:
    for inst in (people.inst_a, people.inst_b):
        assert kept(inst.pk) == live(inst.pk), inst.slug


@pytest.mark.django_db
def test_a_refresh_keeps_the_summaries(
    people, eager, task_calls, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    world = built(people, django_capture_on_commit_callbacks, task_calls)
    assert_matches(people)
    a = kept(people.inst_a.pk)
    # A's cohort (student, the waitlisted and withdrawn people of A) and B's student in B's.
    assert a[(people.cohort_a.pk, world.run.pk)]["enrolments"] >= 1
    assert (people.cohort_b.pk, world.run.pk) in kept(people.inst_b.pk)
    # The person in both institutions without a cohort is nobody's: in neither summary.
    dual = EnrolmentSnapshot.objects.get(enrolment=world.enrol["dual"])
    assert dual.institution_id is None
    assert all(cohort is not None for cohort, _ in kept(people.inst_b.pk))

    # A state change and a completion with a result.
    with django_capture_on_commit_callbacks(execute=True):
        enrolment = world.enrol["student"]
        enrolment.state = EnrolmentState.WITHDRAWN
        enrolment.save(update_fields=["state", "state_changed_at"])
    assert_matches(people)
    assert kept(people.inst_a.pk)[(people.cohort_a.pk, world.run.pk)]["active"] == (
        a[(people.cohort_a.pk, world.run.pk)]["active"] - 1
    )


@pytest.mark.django_db
def test_an_enrolment_moved_to_another_institution_s_cohort_moves_its_sums(
    people, eager, task_calls, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    world = built(people, django_capture_on_commit_callbacks, task_calls)
    before_b = kept(people.inst_b.pk)[(people.cohort_b.pk, world.run.pk)]["enrolments"]
    with django_capture_on_commit_callbacks(execute=True):
        enrolment = world.enrol["student"]
        enrolment.cohort = people.cohort_b
        enrolment.save(update_fields=["cohort"])
    assert_matches(people)
    assert kept(people.inst_b.pk)[(people.cohort_b.pk, world.run.pk)]["enrolments"] == (
        before_b + 1
    )


@pytest.mark.django_db
def test_leaving_an_institution_hands_enrolments_without_a_cohort_to_the_other(
    people, eager, task_calls, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    world = built(people, django_capture_on_commit_callbacks, task_calls)
    assert (None, world.run.pk) not in kept(people.inst_a.pk)
    with django_capture_on_commit_callbacks(execute=True):
        Membership.objects.filter(user=people.dual, institution=people.inst_b).delete()
    assert_matches(people)
    # dual is now a member of A only: their enrolment without a cohort is A's.
    assert kept(people.inst_a.pk)[(None, world.run.pk)]["enrolments"] == 1
    with django_capture_on_commit_callbacks(execute=True):
        Membership.objects.create(user=people.dual, institution=people.inst_b, role="student")
    assert_matches(people)
    assert (None, world.run.pk) not in kept(people.inst_a.pk)


@pytest.mark.django_db
def test_the_roll_up_moves_the_last_activity(
    people, eager, task_calls, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    world = built(people, django_capture_on_commit_callbacks, task_calls)
    key = (people.cohort_a.pk, world.run.pk)
    before = kept(people.inst_a.pk)[key]["last_activity_at"]
    services.record_event(user=people.student, kind=EventKind.LESSON_VIEWED, run=world.run)
    services.roll_up()
    assert_matches(people)
    after = kept(people.inst_a.pk)[key]["last_activity_at"]
    assert after is not None and (before is None or after > before)
    assert after > timezone.now() - timedelta(minutes=1)


@pytest.mark.django_db
def test_deleted_enrolments_and_cohorts_leave_the_summaries(
    people, eager, task_calls, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    world = built(people, django_capture_on_commit_callbacks, task_calls)
    with django_capture_on_commit_callbacks(execute=True):
        world.enrol["studentb"].delete()
    assert_matches(people)
    assert (people.cohort_b.pk, world.run.pk) not in kept(people.inst_b.pk)
    # A cohort deleted: its enrolments lose it without a save; the sums follow them.
    with django_capture_on_commit_callbacks(execute=True):
        people.cohort_a.delete()
    assert_matches(people)
    assert all(cohort is None for cohort, _ in kept(people.inst_a.pk))
    assert kept(people.inst_a.pk)


@pytest.mark.django_db
def test_summarising_costs_the_same_queries_for_one_pair_and_many(
    people, django_assert_num_queries
):  # type: ignore[no-untyped-def]
    runs = [CourseRunFactory() for _ in range(4)]
    for run in runs:
        for i in range(3):
            user = member(people.inst_a) if i else UserFactory()
            people.cohort_a.members.add(user)
            Enrolment.objects.create(run=run, user=user, state="active", cohort=people.cohort_a)
    RollupCursor.objects.get_or_create(pk=services.CURSOR_PK)
    services.refresh_everything()
    with transaction.atomic():
        CohortSummary.objects.all().delete()
    # The savepoint, the lock, the sums, the delete, the insert, the release.
    with django_assert_num_queries(6):
        assert services.summarise([(people.inst_a.pk, runs[0].pk)]) == 1
    with django_assert_num_queries(6):
        assert services.summarise((people.inst_a.pk, run.pk) for run in runs) == 4
    assert_matches(people)
    assert services.rebuild_summaries() == 4
    assert_matches(people)
