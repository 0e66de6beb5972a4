"""Pure grade arithmetic of one lab: late penalties and percents.

No database here: the selectors load rows and call these functions, so the rules are tested
on plain values.  The course grade (categories, drop-lowest, missing work) is
``courses.grading``'s alone.
"""

from __future__ import annotations

import math
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
