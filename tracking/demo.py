"""Demo tracking: a few weeks of learning events for the demo people's enrolments, rolled up,
and every enrolment's snapshot computed, so the institution pages show something at once."""

from __future__ import annotations

import random
from datetime import timedelta

from django.utils import timezone

from academy.models import User
from courses.models import Enrolment, EnrolmentState

from . import rules, services
from .models import EventKind, LearningEvent

WEEKS = 8


def seed(users: dict[str, User]) -> None:
    if not LearningEvent.objects.exists():
        _events(users)
    services.roll_up()
    services.refresh_everything()


def _events(users: dict[str, User]) -> None:
    rng = random.Random(7)  # noqa: S311 - the same demo every time, not a secret
    now = timezone.now()
    kinds = [EventKind.LESSON_VIEWED] * 6 + [
        EventKind.LESSON_COMPLETED,
        EventKind.LAB_OPENED,
        EventKind.LAB_OPENED,
        EventKind.SESSION_STARTED,
    ]
    enrolments = Enrolment.objects.filter(
        user__in=users.values(), state__in=[EnrolmentState.ACTIVE, EnrolmentState.COMPLETED]
    ).select_related("cohort", "run")
    rows = []
    for enrolment in enrolments:
        institution = rules.attribute(
            enrolment.user_id, enrolment.cohort.institution_id if enrolment.cohort else None
        )
        start = max(enrolment.run.starts_at, now - timedelta(weeks=WEEKS))
        end = min(enrolment.run.ends_at, now)
        if end <= start:
            continue
        # Some people keep going, some fade: the at-risk list has someone to show.
        quiet_after = end - timedelta(days=rng.choice([0, 0, 0, 20]))
        for _ in range(rng.randint(15, 60)):
            at = start + (end - start) * rng.random()
            if at > quiet_after:
                continue
            rows.append(
                LearningEvent(
                    occurred_at=at,
                    kind=rng.choice(kinds),
                    user_id=enrolment.user_id,
                    run_id=enrolment.run_id,
                    institution_id=institution,
                )
            )
    LearningEvent.objects.bulk_create(rows, batch_size=1000)
