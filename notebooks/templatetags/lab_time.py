"""Durations as people read them ("30 minutes", "2 days, 3 hours"), in the page's language."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils.timesince import timesince

register = template.Library()

_EPOCH = datetime(2000, 1, 1)


@register.filter
def duration(seconds: int | float | None) -> str:
    """Django's own translated units (two at most); under a minute reads as "0 minutes"."""
    seconds = int(seconds or 0)
    return timesince(_EPOCH, _EPOCH + timedelta(seconds=seconds), depth=2)
