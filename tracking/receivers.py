"""Learning events become rows; changes to what a snapshot shows refresh it after the commit."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models.signals import post_delete, post_save, pre_delete
from django.dispatch import receiver

from academy.models import Cohort, Membership, User
from courses.models import (
    CourseRun,
    Enrolment,
    GradingCategory,
    Lesson,
    LessonCompletion,
    Module,
)
from courses.signals import learning_event
from notebooks.models import Extension, Lab, Submission
from notebooks.sessions.models import GpuUsage

from . import services
from .models import EnrolmentSnapshot


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


# ---- snapshots: what changes where an enrolment stands refreshes it after the commit ----------
# A save marks what it touched, cheaply (no query here); ``services.refresh_after_commit`` turns
# the marks of one transaction into ONE task after the commit.

# Fields a snapshot is computed from: a save naming only other fields changes nothing here.
SUBMISSION_FIELDS = frozenset(
    {"score", "max_score", "late_seconds", "attempt", "status", "lab", "student", "submitted_at"}
)
ENROLMENT_FIELDS = frozenset({"state", "cohort", "run", "user", "state_changed_at"})


def _changes(created: bool, update_fields: Iterable[str] | None, fields: frozenset[str]) -> bool:
    return created or update_fields is None or not fields.isdisjoint(update_fields)


@receiver(post_save, sender=Enrolment, dispatch_uid="tracking-enrolment")
def enrolment_saved(
    sender: type, instance: Enrolment, created: bool, update_fields: Any, **kwargs: Any
) -> None:
    if _changes(created, update_fields, ENROLMENT_FIELDS):
        services.refresh_after_commit(enrolments=[instance.pk])
    # (a deleted enrolment takes its snapshot with it: the foreign key cascades)


@receiver(post_delete, sender=EnrolmentSnapshot, dispatch_uid="tracking-snapshot-delete")
def snapshot_deleted(sender: type, instance: EnrolmentSnapshot, **kwargs: Any) -> None:
    # An enrolment, run or person deleted takes snapshots with it: their summaries follow.
    if instance.institution_id is not None:
        services.refresh_after_commit(summaries=[(instance.institution_id, instance.run_id)])


@receiver(pre_delete, sender=Cohort, dispatch_uid="tracking-cohort-delete")
def cohort_deleted(sender: type, instance: Cohort, **kwargs: Any) -> None:
    # Its enrolments lose their cohort without a save (SET_NULL): their attribution and the
    # institution's summaries change.  Read now, while they still name it.
    services.refresh_after_commit(
        enrolments=Enrolment.objects.filter(cohort=instance).values_list("id", flat=True)
    )


@receiver(post_save, sender=Submission, dispatch_uid="tracking-submission")
def submission_saved(
    sender: type, instance: Submission, created: bool, update_fields: Any, **kwargs: Any
) -> None:
    if _changes(created, update_fields, SUBMISSION_FIELDS):
        services.refresh_after_commit(lab_people=[(instance.lab_id, instance.student_id)])


@receiver(post_save, sender=Extension, dispatch_uid="tracking-extension")
@receiver(post_delete, sender=Extension, dispatch_uid="tracking-extension-delete")
@receiver(post_delete, sender=Submission, dispatch_uid="tracking-submission-delete")
def lab_row_changed(sender: type, instance: Submission | Extension, **kwargs: Any) -> None:
    # An extension moves the date after which a missing lab counts as missed (and 0 %).
    services.refresh_after_commit(lab_people=[(instance.lab_id, instance.student_id)])


@receiver(post_save, sender=LessonCompletion, dispatch_uid="tracking-completion")
@receiver(post_delete, sender=LessonCompletion, dispatch_uid="tracking-completion-delete")
def completion_changed(sender: type, instance: LessonCompletion, **kwargs: Any) -> None:
    services.refresh_after_commit(lesson_people=[(instance.lesson_id, instance.user_id)])


@receiver(post_save, sender=GpuUsage, dispatch_uid="tracking-gpu-usage")
def gpu_usage_saved(sender: type, instance: GpuUsage, created: bool, **kwargs: Any) -> None:
    # The usage sync saves a running job's row every minute: its hours count once it is
    # recorded and once it finishes (the nightly refresh adds the minutes in between).
    if created or instance.finished:
        services.refresh_after_commit(run_people=[(instance.run_id, instance.user_id)])


@receiver(post_delete, sender=GpuUsage, dispatch_uid="tracking-gpu-usage-delete")
def gpu_usage_deleted(sender: type, instance: GpuUsage, **kwargs: Any) -> None:
    services.refresh_after_commit(run_people=[(instance.run_id, instance.user_id)])


@receiver(post_save, sender=Membership, dispatch_uid="tracking-membership")
@receiver(post_delete, sender=Membership, dispatch_uid="tracking-membership-delete")
def membership_changed(sender: type, instance: Membership, **kwargs: Any) -> None:
    # Joining or leaving an institution changes the attribution of enrolments without a cohort.
    services.refresh_after_commit(people=[instance.user_id])


@receiver(post_save, sender=Lab, dispatch_uid="tracking-lab")
@receiver(post_delete, sender=Lab, dispatch_uid="tracking-lab-delete")
@receiver(post_save, sender=GradingCategory, dispatch_uid="tracking-category")
@receiver(post_delete, sender=GradingCategory, dispatch_uid="tracking-category-delete")
def run_grading_changed(sender: type, instance: Lab | GradingCategory, **kwargs: Any) -> None:
    # A lab added, moved (its due date) or removed, or the grading policy changed: everyone's.
    services.refresh_after_commit(runs=[instance.run_id])


@receiver(post_save, sender=Lesson, dispatch_uid="tracking-lesson")
@receiver(post_delete, sender=Lesson, dispatch_uid="tracking-lesson-delete")
def lesson_changed(sender: type, instance: Lesson, created: bool = True, **kwargs: Any) -> None:
    # Only a lesson added or removed changes the totals (not an edit of its text).
    if created:
        run_id = Module.objects.filter(pk=instance.module_id).values_list("run_id", flat=True)
        services.refresh_after_commit(runs=run_id[:1])
