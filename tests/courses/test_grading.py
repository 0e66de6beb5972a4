"""The one course-grade rule (courses.grading): graded or past-due items count, missing past
due is 0, not yet due is left out, empty categories are left out and weights renormalised,
drop-lowest among counting items, a run without categories is one category."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from courses.grading import CategoryPolicy, Item, category_score, compute_grade, course_grade
from tests.factories import CourseRunFactory

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
PAST, FUTURE = NOW - timedelta(days=1), NOW + timedelta(days=1)
POLICY = [CategoryPolicy("Labs", Decimal(60), drop_lowest=1), CategoryPolicy("Exam", Decimal(40))]


def graded(percent: int, weight: int = 1) -> Item:
    return Item(percent=percent, due_at=PAST, submitted=True, weight=weight)


MISSING = Item(percent=None, due_at=PAST)  # past due, nothing submitted: 0
NOT_DUE = Item(percent=None, due_at=FUTURE)  # not due yet: left out
PENDING = Item(percent=None, due_at=PAST, submitted=True)  # submitted, not graded: left out


def test_the_worked_example():
    # Labs: 80, 50, missing past due (0), not yet due (left out); drop the lowest (the 0):
    # mean(80, 50) = 65.  Exam: 70.  0.6 * 65 + 0.4 * 70 = 39 + 28 = 67.
    items = {"Labs": [graded(80), graded(50), MISSING, NOT_DUE], "Exam": [graded(70)]}
    result = compute_grade(POLICY, 60, items, NOW)
    assert result.percentage == Decimal("67.00")
    assert result.passed is True
    assert result.categories == {"Labs": Decimal("65.00"), "Exam": Decimal("70.00")}
    assert compute_grade(POLICY, Decimal("67.01"), items, NOW).passed is False


def test_an_item_counts_from_its_due_date_or_its_grade():
    assert MISSING.counted(NOW) == 0
    assert NOT_DUE.counted(NOW) is None
    assert PENDING.counted(NOW) is None  # waiting for the grader or a human is not missing
    assert Item(percent=90, due_at=FUTURE, submitted=True).counted(NOW) == 90  # graded early
    assert Item(percent=None, due_at=NOW).counted(NOW) is None  # due at, not past due


def test_a_category_with_nothing_counting_is_left_out_and_weights_renormalised():
    result = compute_grade(POLICY, 50, {"Labs": [graded(60), graded(70)], "Exam": [NOT_DUE]}, NOW)
    assert result.percentage == Decimal("70.00")  # Labs alone: drop 60 -> 70
    assert result.categories["Exam"] is None
    # once the exam is past due and missing, it counts 0
    result = compute_grade(POLICY, 50, {"Labs": [graded(60), graded(70)], "Exam": [MISSING]}, NOW)
    assert result.percentage == Decimal("42.00")  # 0.6 * 70 + 0.4 * 0
    assert result.passed is False


def test_nothing_counting_is_no_grade_and_not_a_pass():
    result = compute_grade(POLICY, 0, {"Labs": [NOT_DUE, PENDING]}, NOW)
    assert result.percentage is None and result.passed is False


def test_drop_lowest_never_drops_every_counting_item_and_uses_lab_weights():
    assert category_score([graded(40), NOT_DUE], 3, NOW) == Decimal(40)
    assert category_score([], 1, NOW) is None
    # weighted by the labs' weights: (100 * 3 + 0 * 1) / 4
    assert category_score([graded(100, weight=3), MISSING], 0, NOW) == Decimal(75)
    # a zero-weight lab never counts (nor is it the one dropped)
    assert category_score([graded(10, weight=0), graded(50), graded(90)], 1, NOW) == Decimal(90)


def test_pass_mark_is_inclusive_and_weights_need_not_sum_to_100():
    policy = [CategoryPolicy("A", Decimal(1)), CategoryPolicy("B", Decimal(3))]
    result = compute_grade(policy, Decimal(25), {"A": [graded(100)], "B": [graded(0)]}, NOW)
    assert result.percentage == Decimal("25.00") and result.passed


def test_it_rejects_out_of_range_scores_and_unknown_categories():
    with pytest.raises(ValueError):
        compute_grade(POLICY, 50, {"Labs": [graded(101)]}, NOW)
    with pytest.raises(ValueError):
        compute_grade(POLICY, 50, {"Quiz": [graded(10)]}, NOW)


@pytest.mark.django_db
def test_course_grade_reads_the_runs_policy_and_ignores_uncategorised_labs():
    run = CourseRunFactory(pass_mark=Decimal("60"))
    run.categories.create(name="Labs", weight=Decimal(60), drop_lowest=1)
    run.categories.create(name="Exam", weight=Decimal(40))
    items = [
        ("Labs", graded(80)),
        ("Labs", graded(50)),
        ("Labs", MISSING),
        ("Labs", NOT_DUE),
        ("Exam", graded(70)),
        (None, graded(0)),  # in no category: does not count when the run has categories
    ]
    result = course_grade(run, items, NOW)
    assert result.percentage == Decimal("67.00") and result.passed


@pytest.mark.django_db
def test_a_run_without_categories_is_one_category_of_every_lab():
    run = CourseRunFactory(pass_mark=Decimal("50"))
    # (80 + 50 + 0) / 3 = 43.33; the lab not yet due is left out; no drop-lowest
    items = [(None, graded(80)), (None, graded(50)), (None, MISSING), (None, NOT_DUE)]
    result = course_grade(run, items, NOW)
    assert result.percentage == Decimal("43.33") and result.passed is False
    assert course_grade(run, [(None, NOT_DUE)], NOW).percentage is None
