"""The course grade from a run's grading policy.  Pure: no database access in ``compute_grade``;
``course_grade`` only reads the run's categories (prefetch ``categories`` to avoid a query).

Rules:
- each category's score is the mean of its percentages after dropping the ``drop_lowest``
  lowest ones (never all of them: at least one score is kept);
- a category with no scores counts 0 % (missing work);
- the course percentage is the weighted mean of the category scores; weights are normalised by
  their sum, so they need not add up to 100;
- passed when the percentage is at least the pass mark.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import CourseRun

TWO_PLACES = Decimal("0.01")


@dataclass(frozen=True)
class CategoryPolicy:
    name: str
    weight: Decimal
    drop_lowest: int = 0


@dataclass(frozen=True)
class GradeResult:
    percentage: Decimal
    passed: bool
    categories: dict[str, Decimal]  # each category's score (%) after dropping


def _as_decimal(value: float | int | Decimal | str) -> Decimal:
    number = Decimal(str(value))
    if not number.is_finite() or number < 0 or number > 100:
        raise ValueError(f"A percentage must be between 0 and 100, not {value!r}.")
    return number


def category_score(scores: Sequence[float | int | Decimal | str], drop_lowest: int = 0) -> Decimal:
    values = sorted(_as_decimal(s) for s in scores)
    if not values:
        return Decimal(0)
    kept = values[min(max(drop_lowest, 0), len(values) - 1) :]
    return sum(kept, Decimal(0)) / len(kept)


def compute_grade(
    categories: Iterable[CategoryPolicy],
    pass_mark: Decimal | float | int,
    category_scores: Mapping[str, Sequence[float | int | Decimal | str]],
) -> GradeResult:
    policies = list(categories)
    unknown = set(category_scores) - {c.name for c in policies}
    if unknown:
        raise ValueError(f"Scores for unknown categories: {', '.join(sorted(unknown))}")
    total_weight = sum((Decimal(c.weight) for c in policies), Decimal(0))
    per_category = {
        c.name: category_score(category_scores.get(c.name, ()), c.drop_lowest) for c in policies
    }
    if total_weight <= 0:
        percentage = Decimal(0)
    else:
        percentage = (
            sum((per_category[c.name] * Decimal(c.weight) for c in policies), Decimal(0))
            / total_weight
        )
    percentage = percentage.quantize(TWO_PLACES, rounding=ROUND_HALF_UP)
    return GradeResult(
        percentage=percentage,
        passed=percentage >= Decimal(str(pass_mark)),
        categories={
            k: v.quantize(TWO_PLACES, rounding=ROUND_HALF_UP) for k, v in per_category.items()
        },
    )


def course_grade(
    run: CourseRun, category_scores: Mapping[str, Sequence[float | int | Decimal | str]]
) -> GradeResult:
    """The grade of one student in ``run``: ``category_scores`` maps a GradingCategory name to
    that student's percentages (0-100) in it, e.g. ``{"Labs": [80, 95, 40], "Exam": [71]}``."""
    policies = [CategoryPolicy(c.name, c.weight, c.drop_lowest) for c in run.categories.all()]
    return compute_grade(policies, run.pass_mark, category_scores)
