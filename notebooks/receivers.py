"""The labs side's answers to the course side's questions (connected in NotebooksConfig.ready)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from academy.models import User
from courses.signals import passed_courses

from .selectors import finished_results


@receiver(passed_courses, dispatch_uid="notebooks.passed_courses")
def courses_passed(sender: object, *, user: User, **kwargs: Any) -> set[int]:
    """The courses of the person's runs passed under each run's own grading policy: the
    evidence of a prerequisite."""
    return {r.course_id for r in finished_results([user.pk]) if r.passed}
