"""Progress follows results: a grade or an enrolment change of someone following a programme
recomputes their progress (after commit, by the idempotent task); people who join a cohort
that follows a programme follow it too.

The triggers are cheap and batched.  A save only marks the person as touched, and only when
the saved fields can change a result (a submission's score, not its feedback flag); the
people touched in one transaction go to the broker in ONE task after the commit, so a lab
regraded for 2,000 people in one transaction is one task for 2,000 people, not 2,000 tasks.
Saves outside a transaction commit at once, and so each is its own task.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from academy.models import Cohort, User
from courses.models import Enrolment
from notebooks.models import Extension, Submission

from . import services
from .models import ProgrammeCohort

# Fields a run's result is computed from (notebooks.selectors.finished_results): a save that
# names only other fields (feedback released, a reason, a cohort) changes no result.
SUBMISSION_FIELDS = frozenset(
    {"score", "max_score", "late_seconds", "attempt", "status", "lab", "student"}
)
ENROLMENT_FIELDS = frozenset({"state", "run", "user"})


def _changes_results(created: bool, update_fields: Iterable[str] | None, fields: frozenset) -> bool:
    return created or update_fields is None or not fields.isdisjoint(update_fields)


@receiver(post_save, sender=Submission, dispatch_uid="programmes-submission")
def submission_saved(
    sender: type, instance: Submission, created: bool, update_fields: Any, **kwargs: Any
) -> None:
    if _changes_results(created, update_fields, SUBMISSION_FIELDS):
        services.recompute_after_commit([instance.student_id])


@receiver(post_save, sender=Enrolment, dispatch_uid="programmes-enrolment")
def enrolment_saved(
    sender: type, instance: Enrolment, created: bool, update_fields: Any, **kwargs: Any
) -> None:
    if _changes_results(created, update_fields, ENROLMENT_FIELDS):
        services.recompute_after_commit([instance.user_id])


@receiver(post_save, sender=Extension, dispatch_uid="programmes-extension")
def extension_saved(sender: type, instance: Extension, **kwargs: Any) -> None:
    # An extension moves the date from which a missing lab counts 0.
    services.recompute_after_commit([instance.student_id])


@receiver(post_delete, sender=Submission, dispatch_uid="programmes-submission-delete")
@receiver(post_delete, sender=Extension, dispatch_uid="programmes-extension-delete")
def result_row_deleted(sender: type, instance: Submission | Extension, **kwargs: Any) -> None:
    services.recompute_after_commit([instance.student_id])


@receiver(post_delete, sender=Enrolment, dispatch_uid="programmes-enrolment-delete")
def enrolment_deleted(sender: type, instance: Enrolment, **kwargs: Any) -> None:
    services.recompute_after_commit([instance.user_id])


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
