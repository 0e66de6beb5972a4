"""Markdown for course descriptions and lessons: rendered, highlighted, then sanitised.

Authors are trusted staff, but the HTML still goes through nh3 (an allow-list), so a pasted
``<script>`` or ``onerror=`` never reaches a student's browser.  Highlighting uses Pygments CSS
classes (``static/courses/pygments.css``): no inline styles, which the CSP forbids anyway.
"""

from __future__ import annotations

import markdown as md
import nh3
from django.utils.safestring import SafeString, mark_safe

EXTENSIONS = ["fenced_code", "codehilite", "tables", "sane_lists", "toc"]
EXTENSION_CONFIGS = {"codehilite": {"css_class": "codehilite", "guess_lang": False}}

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "dd",
    "del",
    "div",
    "dl",
    "dt",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "kbd",
    "li",
    "ol",
    "p",
    "pre",
    "span",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "span": {"class"},
    "div": {"class"},
    "code": {"class"},
    "pre": {"class"},
    "th": {"align"},
    "td": {"align"},
    "h1": {"id"},
    "h2": {"id"},
    "h3": {"id"},
    "h4": {"id"},
}


def render_markdown(text: str) -> SafeString:
    html = md.markdown(text or "", extensions=EXTENSIONS, extension_configs=EXTENSION_CONFIGS)
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )
    return mark_safe(clean)  # noqa: S308 - sanitised by nh3 just above
