"""The mastery rules (pure): Canvas's four calculation methods and their edge cases."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from programmes.outcomes.mastery import (
    DECAYING_AVERAGE,
    HIGHEST,
    LATEST,
    N_MASTERY,
    Evidence,
    Rule,
    score,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def ev(*percents: int | str) -> list[Evidence]:
    """Scores in the order they were earned, a day apart."""
    return [Evidence(Decimal(p), T0 + timedelta(days=i)) for i, p in enumerate(percents)]


@pytest.mark.parametrize("method", [HIGHEST, LATEST, DECAYING_AVERAGE, N_MASTERY])
def test_no_evidence_is_no_score_and_not_mastered(method):
    result = score(Rule(method=method), [])
    assert (result.score, result.mastered, result.evidence_count) == (None, False, 0)


@pytest.mark.parametrize("method", [HIGHEST, LATEST, DECAYING_AVERAGE])
def test_one_score_counts_whole(method):
    assert score(Rule(method=method), ev(85)).score == Decimal("85.00")
    assert score(Rule(method=method), ev(85)).mastered
    assert not score(Rule(method=method), ev("79.99")).mastered


def test_highest_takes_the_best_whatever_its_time():
    result = score(Rule(method=HIGHEST), ev(90, 40, 60))
    assert (result.score, result.mastered, result.times_at_mastery) == (Decimal(90), True, 1)


def test_latest_takes_the_most_recent_by_time_not_by_list_order():
    evidence = ev(40, 90)[::-1]  # listed newest first
    assert score(Rule(method=LATEST), evidence).score == Decimal(90)
    assert not score(Rule(method=LATEST), ev(90, 40)).mastered


def test_decaying_average_weighs_the_latest_against_the_mean_of_the_rest():
    # 65 % of 90 + 35 % of mean(50, 70) = 58.5 + 21 = 79.5
    rule = Rule(method=DECAYING_AVERAGE, decay_percent=65)
    assert score(rule, ev(50, 70, 90)).score == Decimal("79.50")
    assert not score(rule, ev(50, 70, 90)).mastered
    # the order decides: the same scores, 50 last: 65 % of 50 + 35 % of 80 = 60.5
    assert score(rule, ev(70, 90, 50)).score == Decimal("60.50")


def test_decaying_average_weight_is_the_rules():
    # 75 % of 100 + 25 % of 60 = 90
    assert score(Rule(method=DECAYING_AVERAGE, decay_percent=75), ev(60, 100)).score == Decimal(90)


def test_n_mastery_needs_n_scores_at_the_level_and_averages_them():
    rule = Rule(method=N_MASTERY, n_times=2, mastery_percent=Decimal(80))
    once = score(rule, ev(100, 50))
    assert (once.mastered, once.times_at_mastery, once.score) == (False, 1, Decimal(100))
    twice = score(rule, ev(100, 50, 80))
    # the mean of the scores at or above 80: (100 + 80) / 2; the 50 does not count
    assert (twice.mastered, twice.times_at_mastery, twice.score) == (True, 2, Decimal(90))


def test_n_mastery_with_n_one_is_mastered_by_one_score_at_the_level():
    assert score(Rule(method=N_MASTERY, n_times=1), ev(80)).mastered
    assert not score(Rule(method=N_MASTERY, n_times=1), ev(79)).mastered


def test_mastery_level_is_inclusive():
    assert score(Rule(method=HIGHEST, mastery_percent=Decimal(60)), ev(60)).mastered


def test_equal_times_keep_the_list_order():
    same = [Evidence(Decimal(30), T0), Evidence(Decimal(95), T0)]
    assert score(Rule(method=LATEST), same).score == Decimal(95)


@pytest.mark.parametrize(
    "kwargs", [{"method": "median"}, {"decay_percent": 0}, {"decay_percent": 100}, {"n_times": 0}]
)
def test_bad_rules_are_refused(kwargs):
    with pytest.raises(ValueError):
        Rule(**kwargs)
