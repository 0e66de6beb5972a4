"""Evidence -> mastery, as Canvas's outcome calculation methods.  Pure: no Django here.

Evidence is a list of scores in percent with the time each was earned; the methods:
- highest: the best score;
- latest: the most recent score;
- decaying average (Canvas's classic method, later renamed "weighted average"): the latest
  score weighs ``decay_percent`` %, the mean of all the earlier ones the rest; one score alone
  counts whole;
- n-mastery: mastered once at least ``n`` scores reach the mastery level; the score is the mean
  of the scores at or above it (Canvas's rule).  Until then the score shown is the highest one,
  and it never counts as mastered however high it is.
No evidence: no score, not mastered (not 0 %).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

HIGHEST = "highest"
LATEST = "latest"
DECAYING_AVERAGE = "decaying_average"
N_MASTERY = "n_mastery"
METHODS = (HIGHEST, LATEST, DECAYING_AVERAGE, N_MASTERY)

TWO_PLACES = Decimal("0.01")


@dataclass(frozen=True)
class Evidence:
    """One aligned score: ``percent`` (0-100) earned at ``at``; ``source`` says where from."""

    percent: Decimal
    at: datetime
    source: str = ""


@dataclass(frozen=True)
class Rule:
    method: str = HIGHEST
    mastery_percent: Decimal = Decimal(80)
    decay_percent: int = 65
    n_times: int = 2

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"Unknown mastery method {self.method!r}.")
        if not 1 <= self.decay_percent <= 99:
            raise ValueError("The latest score's weight must be between 1 and 99 %.")
        if self.n_times < 1:
            raise ValueError("N-mastery needs N of at least 1.")


@dataclass(frozen=True)
class Mastery:
    score: Decimal | None  # None: no evidence yet
    mastered: bool
    evidence_count: int
    times_at_mastery: int  # scores at or above the mastery level

    @property
    def has_evidence(self) -> bool:
        return self.evidence_count > 0


def _mean(values: Sequence[Decimal]) -> Decimal:
    return sum(values, Decimal(0)) / len(values)


def score(rule: Rule, evidence: Sequence[Evidence]) -> Mastery:
    """The mastery that ``evidence`` shows under ``rule``.  Ties in time keep the given order
    (the later in the list counts as the more recent)."""
    if not evidence:
        return Mastery(score=None, mastered=False, evidence_count=0, times_at_mastery=0)
    # sorted() is stable: equal times keep their order in the list
    ordered = [e.percent for e in sorted(evidence, key=lambda e: e.at)]
    level = Decimal(rule.mastery_percent)
    at_mastery = [p for p in ordered if p >= level]
    value: Decimal
    if rule.method == HIGHEST:
        value = max(ordered)
    elif rule.method == LATEST:
        value = ordered[-1]
    elif rule.method == DECAYING_AVERAGE:
        if len(ordered) == 1:
            value = ordered[0]
        else:
            weight = Decimal(rule.decay_percent) / 100
            value = ordered[-1] * weight + _mean(ordered[:-1]) * (1 - weight)
    else:  # N_MASTERY: the count decides, not the score
        reached = len(at_mastery) >= rule.n_times
        value = _mean(at_mastery) if reached else max(ordered)
    value = value.quantize(TWO_PLACES, ROUND_HALF_UP)
    return Mastery(
        score=value,
        mastered=reached if rule.method == N_MASTERY else value >= level,
        evidence_count=len(ordered),
        times_at_mastery=len(at_mastery),
    )
