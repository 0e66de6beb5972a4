"""Progress follows results: a grade or an enrolment change of someone following a programme
recomputes their progress (after commit, by the idempotent task); people who join a cohort
that follows a programme follow it too."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import m2m_changed, post_save
from django.dispatch import receiver

from academy.jobs import enqueue
from academy.models import Cohort, User
from courses.models import Enrolment
from notebooks.models import Submission

from . import services
from .models import Allocation, ProgrammeCohort


def _recompute_for(user_id: int) -> None:
    if Allocation.objects.filter(user_id=user_id).exists():
        enqueue(services.RECOMPUTE_TASK, [user_id])


@receiver(post_save, sender=Submission, dispatch_uid="programmes-submission")
def submission_saved(sender: type, instance: Submission, **kwargs: Any) -> None:
    _recompute_for(instance.student_id)


@receiver(post_save, sender=Enrolment, dispatch_uid="programmes-enrolment")
def enrolment_saved(sender: type, instance: Enrolment, **kwargs: Any) -> None:
    _recompute_for(instance.user_id)


@receiver(m2m_changed, sender=Cohort.members.through, dispatch_uid="programmes-cohort")
def cohort_members_changed(
    sender: type, instance: Any, action: str, pk_set: set[int] | None, reverse: bool, **kwargs: Any
) -> None:
    if action != "post_add" or not pk_set:
        return
    cohorts = [instance] if not reverse else list(Cohort.objects.filter(pk__in=pk_set))
    user_ids = list(pk_set) if not reverse else [instance.pk]
    users = list(User.objects.filter(pk__in=user_ids))
    for link in ProgrammeCohort.objects.filter(cohort__in=cohorts).select_related(
        "programme", "cohort__institution"
    ):
        services.allocate_cohort_members(link.programme, link.cohort, users)
