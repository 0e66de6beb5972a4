"""Writes of the tracking side: events, roll-ups, snapshots, thresholds, digest preferences.

Recording is one INSERT per event (the attribution is one small read).  Everything else is
background work, idempotent: the roll-up rebuilds the daily rows of the days its new events
touch; a snapshot is recomputed from the results whenever asked.
"""

from __future__ import annotations

from django.db.models import Q

from academy.models import User
from courses.models import CourseRun, Enrolment

from . import rules
from .models import LearningEvent


def record_event(*, user: User, kind: str, run: CourseRun, object_id: int | None = None) -> None:
    cohort_institution = (
        Enrolment.objects.filter(run=run, user=user)
        .filter(~Q(cohort=None))
        .values_list("cohort__institution_id", flat=True)
        .first()
    )
    LearningEvent.objects.create(
        kind=kind,
        user=user,
        run=run,
        institution_id=rules.attribute(user.pk, cohort_institution),
        object_id=object_id,
    )
