"""Factories and builders of the labs side."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import factory
import nbformat
from django.utils import timezone
from factory.django import DjangoModelFactory

from notebooks.models import Lab
from tests.factories import CourseRunFactory

FIXTURES = Path(__file__).resolve().parent.parent / "grader" / "fixtures"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


class LabFactory(DjangoModelFactory):
    class Meta:
        model = Lab

    run = factory.SubFactory(CourseRunFactory)
    title = factory.Sequence(lambda n: f"Lab {n}")
    due_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))


def small_lab(*, sleep: float = 0, points: int = 1, manual: bool = False) -> bytes:
    """A tiny source notebook: an answer cell (optionally sleeping), one test with a hidden
    part, and (``manual``) a markdown answer worth 2 points graded by a human."""
    nb = nbformat.v4.new_notebook()
    answer = nbformat.v4.new_code_cell(
        "### BEGIN SOLUTION\n"
        + (f"import time\ntime.sleep({sleep})\n" if sleep else "")
        + "def double(x):\n    return 2 * x\n### END SOLUTION"
    )
    answer.metadata["nbgrader"] = {
        "grade": False,
        "solution": True,
        "locked": False,
        "grade_id": "answer",
        "schema_version": 3,
    }
    test = nbformat.v4.new_code_cell(
        "assert double(2) == 4\n"
        "### BEGIN HIDDEN TESTS\nassert double(21) == 42\n### END HIDDEN TESTS"
    )
    test.metadata["nbgrader"] = {
        "grade": True,
        "solution": False,
        "locked": True,
        "grade_id": "test_double",
        "points": points,
        "schema_version": 3,
    }
    nb.cells = [answer, test]
    if manual:
        explain = nbformat.v4.new_markdown_cell(
            "### BEGIN SOLUTION\nDoubling is multiplication by two.\n### END SOLUTION"
        )
        explain.metadata["nbgrader"] = {
            "grade": True,
            "solution": True,
            "locked": False,
            "grade_id": "explain",
            "points": 2,
            "schema_version": 3,
        }
        nb.cells.append(explain)
    return nbformat.writes(nb).encode()


def with_answer(student_version: bytes, grade_id: str, source: str) -> bytes:
    nb = nbformat.reads(student_version.decode(), as_version=4)
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = source
    return nbformat.writes(nb).encode()
