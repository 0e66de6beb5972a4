"""Lateness reads as people say it ("30 minutes late"), in the page's language."""

from __future__ import annotations

import pytest
from django.utils import translation

from notebooks.templatetags.lab_time import duration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0\xa0minutes"),
        (1802, "30\xa0minutes"),
        (3 * 3600 + 5 * 60, "3\xa0hours, 5\xa0minutes"),
        (2 * 86400 + 3 * 3600 + 59, "2\xa0days, 3\xa0hours"),
    ],
)
def test_lateness_reads_as_a_duration(seconds, text):  # type: ignore[no-untyped-def]
    with translation.override("en"):
        assert duration(seconds) == text


def test_lateness_is_translated():  # type: ignore[no-untyped-def]
    with translation.override("sr"):
        assert "минут" in duration(1802)
