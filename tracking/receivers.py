"""Learning events become rows; changes to what a snapshot shows refresh it after the commit."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from academy.models import User
from courses.models import CourseRun
from courses.signals import learning_event

from . import services


@receiver(learning_event, dispatch_uid="tracking-learning-event")
def record(
    sender: object,
    *,
    user: User,
    kind: str,
    run: CourseRun,
    object_id: int | None = None,
    **kwargs: Any,
) -> None:
    services.record_event(user=user, kind=kind, run=run, object_id=object_id)
