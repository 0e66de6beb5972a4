"""What an institution follows of its people: learning events, their daily roll-ups, a
snapshot per enrolment, the at-risk thresholds and the weekly digest preferences.

Attribution ("only what a person does as that institution's member"): an enrolment belongs to
the institution of its cohort; an enrolment without a cohort belongs to the person's institution
when they are a member of exactly one; otherwise (two memberships, no cohort) to none, so that
neither institution sees it.  ``rules.attribute`` decides it, once, when a row is written; every
figure then filters on the stored ``institution``.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from academy.models import Cohort, Institution
from courses.models import CourseRun, Enrolment


class EventKind(models.TextChoices):
    LESSON_VIEWED = "lesson_viewed", _("Lesson viewed")
    LESSON_COMPLETED = "lesson_completed", _("Lesson completed")
    LAB_OPENED = "lab_opened", _("Lab opened")
    LAB_SUBMITTED = "lab_submitted", _("Lab submitted")
    SESSION_STARTED = "session_started", _("Lab session started")


class LearningEvent(models.Model):
    """One thing a person did in a run: written with one INSERT, read only by the roll-up
    (``services.roll_up``), deleted after ``ACTIVITY_RETENTION_DAYS``."""

    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    kind = models.CharField(max_length=20, choices=EventKind.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(CourseRun, on_delete=models.CASCADE, related_name="+")
    institution = models.ForeignKey(
        Institution, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    object_id = models.PositiveBigIntegerField(null=True, blank=True)  # lesson, lab, session

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.user_id} {self.kind}"


class DailyActivity(models.Model):
    """Events of one person in one run on one day, as their institution sees them.  Rebuilt
    from the raw events of the days touched (idempotent), so dashboards never scan events."""

    day = models.DateField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(CourseRun, on_delete=models.CASCADE, related_name="+")
    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="+")
    lessons_viewed = models.PositiveIntegerField(default=0)
    lessons_completed = models.PositiveIntegerField(default=0)
    labs_opened = models.PositiveIntegerField(default=0)
    labs_submitted = models.PositiveIntegerField(default=0)
    sessions_started = models.PositiveIntegerField(default=0)
    events = models.PositiveIntegerField(default=0)
    last_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "user", "run", "institution"], name="dailyactivity_unique"
            ),
        ]
        indexes = [
            # weekly active learners: distinct people per week, read from the index alone
            models.Index(fields=["institution", "day", "user"]),
            # a snapshot's last activity
            models.Index(fields=["user", "run"]),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.user_id} run {self.run_id}: {self.events}"


class RollupCursor(models.Model):
    """The last event id the roll-up has folded in (one row)."""

    last_event_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"rolled up to {self.last_event_id}"


class EnrolmentSnapshot(models.Model):
    """Where one enrolment stands, kept current by ``services.refresh_enrolments`` (after the
    commit of anything that changes it, and nightly): the cohort and person pages read these
    rows instead of computing grades for thousands of people per request."""

    enrolment = models.OneToOneField(Enrolment, on_delete=models.CASCADE, related_name="snapshot")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(CourseRun, on_delete=models.CASCADE, related_name="+")
    cohort = models.ForeignKey(
        Cohort, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    institution = models.ForeignKey(
        Institution, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    state = models.CharField(max_length=20)
    lessons_done = models.PositiveIntegerField(default=0)
    lessons_total = models.PositiveIntegerField(default=0)
    labs_total = models.PositiveIntegerField(default=0)
    labs_submitted = models.PositiveIntegerField(default=0)
    labs_graded = models.PositiveIntegerField(default=0)
    late_submissions = models.PositiveIntegerField(default=0)
    missed_deadlines = models.PositiveIntegerField(default=0)
    grade = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    # The latest graded lab's percent minus the mean of the earlier ones (None: fewer than 2).
    grade_trend = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    passed = models.BooleanField(null=True)  # None: the run is not over
    gpu_hours = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    waitlisted_since = models.DateTimeField(null=True, blank=True)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["institution", "cohort"]),
            models.Index(fields=["institution", "user"]),
        ]

    def __str__(self) -> str:
        return f"snapshot of {self.enrolment_id}"


class CohortSummary(models.Model):
    """The snapshots of one (institution, cohort, run) added up, so that the dashboard reads a
    few hundred small rows instead of aggregating every snapshot per request.  ``cohort`` is
    None for the institution's enrolments without a cohort.  Never edited: the rows of an
    (institution, run) are recomputed from its snapshots (``services.summarise``) whenever the
    snapshot engine writes those snapshots, under the roll-up's lock, and after the commit of a
    deletion that takes snapshots with it."""

    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="+")
    cohort = models.ForeignKey(
        Cohort, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    run = models.ForeignKey(CourseRun, on_delete=models.CASCADE, related_name="+")
    enrolments = models.PositiveIntegerField(default=0)
    active = models.PositiveIntegerField(default=0)
    started = models.PositiveIntegerField(default=0)  # active, completed or withdrawn
    completed = models.PositiveIntegerField(default=0)
    finished = models.PositiveIntegerField(default=0)  # with a final result (passed not None)
    passed = models.PositiveIntegerField(default=0)
    graded = models.PositiveIntegerField(default=0)  # with a grade
    grade_sum = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    last_activity_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["institution", "run", "cohort"],
                condition=models.Q(cohort__isnull=False),
                name="cohortsummary_unique",
            ),
            models.UniqueConstraint(
                fields=["institution", "run"],
                condition=models.Q(cohort__isnull=True),
                name="cohortsummary_unique_without_cohort",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.institution_id}/{self.cohort_id}/{self.run_id}: {self.enrolments}"


class InstitutionPolicy(models.Model):
    """An institution's thresholds for the at-risk list (defaults when it has no row)."""

    institution = models.OneToOneField(
        Institution, on_delete=models.CASCADE, related_name="tracking_policy"
    )
    inactive_days = models.PositiveSmallIntegerField(
        _("no activity for (days)"), default=14, validators=[MinValueValidator(1)]
    )
    failing_margin = models.DecimalField(
        _("grade below the pass mark by (points)"),
        max_digits=5,
        decimal_places=2,
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    trend_drop = models.DecimalField(
        _("latest lab below the earlier mean by (points)"),
        max_digits=5,
        decimal_places=2,
        default=15,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    missed_deadlines = models.PositiveSmallIntegerField(
        _("missed deadlines"), default=2, validators=[MinValueValidator(1)]
    )
    waitlist_days = models.PositiveSmallIntegerField(
        _("waitlisted for (days)"), default=14, validators=[MinValueValidator(1)]
    )

    def __str__(self) -> str:
        return f"at-risk thresholds of {self.institution}"


class DigestPreference(models.Model):
    """An institution admin's choice about the weekly e-mail digest (sent unless opted out)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="+")
    weekly_digest = models.BooleanField(_("weekly digest"), default=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "institution"], name="digestpreference_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.institution}: {'on' if self.weekly_digest else 'off'}"
