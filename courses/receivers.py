"""The course side's answers to events of the people side (connected in CoursesConfig.ready)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from academy.models import User
from academy.signals import invitation_accepted

from .services import enrolment_claim_reserved


@receiver(invitation_accepted, dispatch_uid="courses.claim_reserved_seats")
def claim_reserved_seats(sender: object, *, user: User, **kwargs: Any) -> None:
    """Seats reserved for this address by a bulk enrolment of an institution the person has now
    joined become enrolments."""
    enrolment_claim_reserved(user=user)
