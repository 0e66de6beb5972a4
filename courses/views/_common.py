"""Helpers shared by the modules of this package."""

from __future__ import annotations

from django.core.exceptions import ValidationError

PAGE_SIZE = 20
ROSTER_PAGE_SIZE = 50


def _errors(exc: ValidationError) -> str:
    return " ".join(exc.messages)
