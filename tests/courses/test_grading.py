from decimal import Decimal

import pytest

from courses.grading import CategoryPolicy, category_score, compute_grade, course_grade
from tests.factories import CourseRunFactory

POLICY = [CategoryPolicy("Labs", Decimal(70), drop_lowest=1), CategoryPolicy("Exam", Decimal(30))]


def test_it_weights_categories_and_drops_the_lowest():
    result = compute_grade(POLICY, 50, {"Labs": [80, 100, 20], "Exam": [60]})
    # Labs: drop 20 -> (80 + 100) / 2 = 90; 0.7 * 90 + 0.3 * 60 = 81
    assert result.percentage == Decimal("81.00")
    assert result.passed is True
    assert result.categories == {"Labs": Decimal("90.00"), "Exam": Decimal("60.00")}


def test_it_fails_below_the_pass_mark_and_counts_missing_work_as_zero():
    result = compute_grade(POLICY, 50, {"Labs": [60, 70]})
    assert result.percentage == Decimal("49.00")  # 0.7 * 70 + 0.3 * 0
    assert result.passed is False


def test_pass_mark_is_inclusive():
    assert compute_grade([CategoryPolicy("All", Decimal(1))], Decimal("50"), {"All": [50]}).passed


def test_it_never_drops_every_score():
    assert category_score([40], drop_lowest=3) == Decimal(40)
    assert category_score([], drop_lowest=1) == Decimal(0)


def test_weights_are_normalised():
    result = compute_grade(
        [CategoryPolicy("A", Decimal(1)), CategoryPolicy("B", Decimal(3))],
        50,
        {"A": [100], "B": [0]},
    )
    assert result.percentage == Decimal("25.00")


def test_it_rejects_out_of_range_scores_and_unknown_categories():
    with pytest.raises(ValueError):
        compute_grade(POLICY, 50, {"Labs": [101]})
    with pytest.raises(ValueError):
        compute_grade(POLICY, 50, {"Quiz": [10]})


@pytest.mark.django_db
def test_course_grade_reads_the_runs_policy():
    run = CourseRunFactory(pass_mark=Decimal("60"))
    run.categories.create(name="Labs", weight=Decimal(50), drop_lowest=1)
    run.categories.create(name="Project", weight=Decimal(50))
    result = course_grade(run, {"Labs": [0, 100, 80], "Project": [40]})
    assert result.percentage == Decimal("65.00")
    assert result.passed
