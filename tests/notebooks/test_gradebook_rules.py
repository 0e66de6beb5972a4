"""The pure grade arithmetic of one lab: late penalties and percents (the course grade is
courses.grading's, tested in tests/courses/test_grading.py and through every path in
tests/notebooks/test_pages_and_api.py)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from notebooks import gradebook as gb

HOUR, DAY = 3600, 86400


@pytest.mark.parametrize(
    ("policy", "late", "rate", "cap", "expected"),
    [
        ("none", 10 * DAY, 10, 100, 0),
        ("zero", 0, 0, 100, 0),
        ("zero", 1, 0, 100, 100),
        ("per_hour", 1, 5, 100, 5),  # a started hour counts
        ("per_hour", HOUR, 5, 100, 5),
        ("per_hour", HOUR + 1, 5, 100, 10),
        ("per_day", 3 * DAY - 5, 10, 100, 30),
        ("per_day", 30 * DAY, 10, 50, 50),  # capped
        ("per_day", 30 * DAY, 10, 500, 100),  # never more than everything
        ("per_day", 0, 10, 50, 0),
    ],
)
def test_late_penalty(policy, late, rate, cap, expected):  # type: ignore[no-untyped-def]
    assert gb.late_penalty_percent(
        policy=policy, late_seconds=late, rate_percent=rate, cap_percent=cap
    ) == D(expected)


def test_it_rejects_an_unknown_policy():
    with pytest.raises(ValueError):
        gb.late_penalty_percent(policy="weekly", late_seconds=5)


def test_apply_penalty_and_percent():
    assert gb.apply_penalty(D(80), D(25)) == D("60.00")
    assert gb.percent(D(3), D(4)) == D("75.00")
    assert gb.percent(None, D(4)) is None and gb.percent(D(1), D(0)) is None
