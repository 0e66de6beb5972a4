"""What the course side's pages show of programmes: the course side never imports programmes,
so its templates ask through these tags (``{% load programmes_tags %}``)."""

from __future__ import annotations

from django import template

from courses.models import Course

from .. import selectors
from ..models import Programme

register = template.Library()


@register.simple_tag
def programmes_counting(course: Course) -> list[Programme]:
    """The published programmes whose tree names ``course`` (public, like the catalogue): one
    query."""
    return list(selectors.programmes_counting(course).only("code", "title", "title_sr"))
