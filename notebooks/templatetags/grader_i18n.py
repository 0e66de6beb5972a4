"""The grader library speaks English and knows no Django; its notebook problems carry a message
template and parameters, translated here for the page."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext

from notebooks.grader.validate import CellError

register = template.Library()


@register.filter
def cell_error_text(error: CellError) -> str:
    if not error.template:
        return error.message
    try:
        return gettext(error.template) % dict(error.params)
    except (KeyError, ValueError, TypeError):  # a broken translation never hides the problem
        return error.message
