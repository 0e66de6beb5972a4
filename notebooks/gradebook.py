"""Pure grade arithmetic: late penalties and a course grade from a run's policy.

No database here: the selectors load rows and call these functions, so the rules are tested
on plain values.  ``course_grade`` is used only while ``courses.grading.course_grade`` does not
exist; the courses side owns the run's policy and may replace it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

HUNDRED = Decimal(100)
TWO_PLACES = Decimal("0.01")

NONE, ZERO, PER_HOUR, PER_DAY = "none", "zero", "per_hour", "per_day"


def late_penalty_percent(
    *,
    policy: str,
    late_seconds: int,
    rate_percent: Decimal | float = 0,
    cap_percent: Decimal | float = 100,
) -> Decimal:
    """The share of the score taken away, in percent (0..100).

    ``per_hour`` / ``per_day``: every started hour (day) late costs ``rate_percent``, at most
    ``cap_percent`` in all.  ``zero``: any lateness costs everything.  On time: nothing.
    """
    if late_seconds <= 0 or policy == NONE:
        return Decimal(0)
    if policy == ZERO:
        return HUNDRED
    unit = {PER_HOUR: 3600, PER_DAY: 86400}.get(policy)
    if unit is None:
        raise ValueError(f"unknown late policy {policy!r}")
    units = math.ceil(late_seconds / unit)
    penalty = Decimal(units) * Decimal(str(rate_percent))
    return min(penalty, Decimal(str(cap_percent)), HUNDRED)


def apply_penalty(score: Decimal, penalty_percent: Decimal) -> Decimal:
    return (score * (HUNDRED - penalty_percent) / HUNDRED).quantize(TWO_PLACES, ROUND_HALF_UP)


def percent(score: Decimal | None, max_score: Decimal | None) -> Decimal | None:
    if score is None or not max_score:
        return None
    return (Decimal(score) * HUNDRED / Decimal(max_score)).quantize(TWO_PLACES, ROUND_HALF_UP)


@dataclass(frozen=True)
class Item:
    """One graded item (a lab) of a category: its weight and the student's percent (None:
    nothing submitted, counts as 0)."""

    weight: Decimal
    percent: Decimal | None


@dataclass(frozen=True)
class Category:
    weight: Decimal
    drop_lowest: int = 0
    items: Sequence[Item] = field(default_factory=tuple)


def category_percent(category: Category) -> Decimal | None:
    """Weighted mean of the items' percents after dropping the ``drop_lowest`` lowest."""
    items = sorted(category.items, key=lambda i: i.percent or Decimal(0))
    if category.drop_lowest and len(items) > category.drop_lowest:
        items = items[category.drop_lowest :]
    total_weight = sum((i.weight for i in items), Decimal(0))
    if not items or not total_weight:
        return None
    got = sum((i.weight * (i.percent or Decimal(0)) for i in items), Decimal(0))
    return (got / total_weight).quantize(TWO_PLACES, ROUND_HALF_UP)


def course_grade(categories: Iterable[Category]) -> Decimal | None:
    """The course grade in percent: categories weighted by their weight, renormalised over the
    categories that have items (so a run whose weights do not sum to 100 still gives 0..100)."""
    got = Decimal(0)
    weights = Decimal(0)
    for category in categories:
        value = category_percent(category)
        if value is None or not category.weight:
            continue
        got += category.weight * value
        weights += category.weight
    if not weights:
        return None
    return (got / weights).quantize(TWO_PLACES, ROUND_HALF_UP)
