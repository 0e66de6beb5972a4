"""The course grade: the one place that turns a student's lab results and the run's grading
policy into a percentage and "passed".  Pure: no database access here; ``course_grade`` only
reads the run's categories (prefetch ``categories`` to avoid a query).

The rule (what Moodle's "only count non-empty grades" and Canvas's current grade do):
- an item counts once it is graded (its percent after late penalties), or once its due date
  (the student's extension included) has passed with nothing submitted: then it counts 0 %.
  Not yet due and not submitted, or submitted and not graded yet: it does not count (yet);
- a category's score is the mean of its counting items weighted by the labs' weights, after
  dropping the ``drop_lowest`` lowest percents (never all of them: at least one is kept);
- categories with no counting item are left out and the remaining categories' weights are
  renormalised (so weights need not add up to 100);
- a run without categories is one implicit category holding every lab; in a run with
  categories, labs in no category do not count;
- no counting item at all: no grade (``None``), not 0 %; passed when the grade is at least the
  run's pass mark.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import CourseRun

TWO_PLACES = Decimal("0.01")
IMPLICIT = ""  # the name of the one category of a run without categories


@dataclass(frozen=True)
class CategoryPolicy:
    name: str
    weight: Decimal
    drop_lowest: int = 0


@dataclass(frozen=True)
class Item:
    """One lab of one student: ``percent`` after late penalties (None: not graded yet),
    whether anything was submitted, and the student's due date (extension included)."""

    percent: Decimal | float | int | str | None
    due_at: datetime | None = None
    submitted: bool = False
    weight: Decimal | int = 1

    def counted(self, now: datetime) -> Decimal | None:
        """The percent this item counts with, or None while it does not count."""
        if self.percent is not None:
            return _as_decimal(self.percent)
        if not self.submitted and self.due_at is not None and self.due_at < now:
            return Decimal(0)  # missing past its due date
        return None


@dataclass(frozen=True)
class GradeResult:
    percentage: Decimal | None  # None: nothing counts yet
    passed: bool
    categories: dict[str, Decimal | None]  # each category's score (%) after dropping


def _as_decimal(value: float | int | Decimal | str) -> Decimal:
    number = Decimal(str(value))
    if not number.is_finite() or number < 0 or number > 100:
        raise ValueError(f"A percentage must be between 0 and 100, not {value!r}.")
    return number


def category_score(items: Sequence[Item], drop_lowest: int, now: datetime) -> Decimal | None:
    counting = [
        (value, Decimal(item.weight))
        for item in items
        if Decimal(item.weight) > 0 and (value := item.counted(now)) is not None
    ]
    if not counting:
        return None
    counting.sort(key=lambda pair: pair[0])
    kept = counting[min(max(drop_lowest, 0), len(counting) - 1) :]
    total_weight = sum((weight for _, weight in kept), Decimal(0))
    return sum((value * weight for value, weight in kept), Decimal(0)) / total_weight


def compute_grade(
    categories: Iterable[CategoryPolicy],
    pass_mark: Decimal | float | int,
    items: Mapping[str, Sequence[Item]],
    now: datetime,
) -> GradeResult:
    policies = list(categories)
    unknown = set(items) - {c.name for c in policies}
    if unknown:
        raise ValueError(f"Items for unknown categories: {', '.join(sorted(unknown))}")
    per_category = {
        c.name: category_score(items.get(c.name, ()), c.drop_lowest, now) for c in policies
    }
    got = weights = Decimal(0)
    for policy in policies:
        score = per_category[policy.name]
        if score is not None and Decimal(policy.weight) > 0:
            got += score * Decimal(policy.weight)
            weights += Decimal(policy.weight)
    percentage = (got / weights).quantize(TWO_PLACES, ROUND_HALF_UP) if weights else None
    return GradeResult(
        percentage=percentage,
        passed=percentage is not None and percentage >= Decimal(str(pass_mark)),
        categories={
            k: None if v is None else v.quantize(TWO_PLACES, ROUND_HALF_UP)
            for k, v in per_category.items()
        },
    )


def course_grade(
    run: CourseRun, items: Iterable[tuple[str | None, Item]], now: datetime
) -> GradeResult:
    """The grade of one student in ``run``: ``items`` pairs each lab's category name (None: no
    category) with that student's Item for it."""
    policies = [CategoryPolicy(c.name, c.weight, c.drop_lowest) for c in run.categories.all()]
    by_category: dict[str, list[Item]] = defaultdict(list)
    if policies:
        known = {p.name for p in policies}
        for name, item in items:
            if name in known:
                by_category[name].append(item)
    else:
        policies = [CategoryPolicy(IMPLICIT, Decimal(100))]
        by_category[IMPLICIT] = [item for _, item in items]
    return compute_grade(policies, run.pass_mark, by_category, now)
