"""Courses, runs (intakes), content, staff, enrolment and the grading policy."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from academy.models import Cohort, Institution


class Sector(models.TextChoices):
    HEALTH = "health", _("Health")
    ENERGY = "energy", _("Energy")
    PUBLIC_ADMINISTRATION = "public_administration", _("Public administration")
    TRANSPORT = "transport", _("Transport")
    RESEARCH = "research", _("Research")
    GENERAL = "general", _("General")


class Level(models.TextChoices):
    INTRODUCTORY = "introductory", _("Introductory")
    INTERMEDIATE = "intermediate", _("Intermediate")
    ADVANCED = "advanced", _("Advanced")


class Course(models.Model):
    code = models.CharField(_("code"), max_length=30, unique=True)
    title = models.CharField(_("title"), max_length=200)
    summary = models.CharField(_("summary"), max_length=500, blank=True)
    description = models.TextField(_("description (Markdown)"), blank=True)
    language = models.CharField(_("language"), max_length=10, default="en")
    level = models.CharField(_("level"), max_length=20, choices=Level.choices, default=Level.INTRODUCTORY)
    sectors = models.JSONField(_("sectors"), default=list, blank=True)
    effort_hours = models.PositiveSmallIntegerField(_("estimated effort (hours)"), default=10)
    prerequisites = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="+")
    is_published = models.BooleanField(_("published"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.title}"


class EnrolmentPolicy(models.TextChoices):
    OPEN = "open", _("Open")
    APPROVAL = "approval", _("Approval")
    INVITE = "invite", _("Invite code")


class CourseRun(models.Model):
    """An intake of a course: dates, enrolment window, capacity, policy, audience, staff."""

    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="runs")
    title = models.CharField(_("run name"), max_length=100, help_text=_("e.g. Spring 2027"))
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    enrolment_opens_at = models.DateTimeField(_("enrolment opens"))
    enrolment_closes_at = models.DateTimeField(_("enrolment closes"))
    capacity = models.PositiveIntegerField(_("capacity"), null=True, blank=True,
                                           help_text=_("Empty: no limit."))
    policy = models.CharField(_("enrolment policy"), max_length=20, choices=EnrolmentPolicy.choices,
                              default=EnrolmentPolicy.OPEN)
    is_public = models.BooleanField(_("open to everyone"), default=True,
                                    help_text=_("Otherwise only the listed institutions and cohorts."))
    allowed_institutions = models.ManyToManyField(Institution, blank=True, related_name="+")
    allowed_cohorts = models.ManyToManyField(Cohort, blank=True, related_name="+")
    pass_mark = models.DecimalField(_("pass mark (%)"), max_digits=5, decimal_places=2,
                                    default=Decimal("50"),
                                    validators=[MinValueValidator(0), MaxValueValidator(100)])
    # Counters kept by the enrolment services under a row lock on the run: the capacity check.
    active_count = models.PositiveIntegerField(default=0, editable=False)
    gpu_budget_hours = models.DecimalField(_("GPU budget (GPU-hours)"), max_digits=10,
                                           decimal_places=2, null=True, blank=True)
    gpu_hours_per_student = models.DecimalField(_("GPU cap per student (GPU-hours)"),
                                                max_digits=8, decimal_places=2, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(ends_at__gte=models.F("starts_at")),
                                   name="run_dates_ordered"),
            models.CheckConstraint(
                condition=models.Q(enrolment_closes_at__gte=models.F("enrolment_opens_at")),
                name="run_enrolment_window_ordered"),
        ]

    def __str__(self) -> str:
        return f"{self.course.code} · {self.title}"


class StaffRole(models.TextChoices):
    INSTRUCTOR = "instructor", _("Instructor")
    TEACHING_ASSISTANT = "ta", _("Teaching assistant")


class CourseStaff(models.Model):
    run = models.ForeignKey(CourseRun, on_delete=models.CASCADE, related_name="staff")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="teaching")
    role = models.CharField(max_length=20, choices=StaffRole.choices, default=StaffRole.INSTRUCTOR)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "user"], name="staff_unique")]


class GradingCategory(models.Model):
    """A part of a run's grading policy: e.g. Labs 70 %, drop the lowest one."""

    run = models.ForeignKey(CourseRun, on_delete=models.CASCADE, related_name="categories")
    name = models.CharField(_("name"), max_length=100)
    weight = models.DecimalField(_("weight (%)"), max_digits=5, decimal_places=2,
                                 validators=[MinValueValidator(0), MaxValueValidator(100)])
    drop_lowest = models.PositiveSmallIntegerField(_("drop lowest"), default=0)

    class Meta:
        ordering = ["run", "name"]
        constraints = [models.UniqueConstraint(fields=["run", "name"], name="category_unique")]

    def __str__(self) -> str:
        return f"{self.name} ({self.weight} %)"


class Module(models.Model):
    run = models.ForeignKey(CourseRun, on_delete=models.CASCADE, related_name="modules")
    title = models.CharField(_("title"), max_length=200)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["run", "position", "id"]


class Lesson(models.Model):
    module = models.ForeignKey(Module, on_delete=models.CASCADE, related_name="lessons")
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("body (Markdown)"), blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["module", "position", "id"]


class EnrolmentState(models.TextChoices):
    PENDING = "pending", _("Pending approval")
    WAITLISTED = "waitlisted", _("Waitlisted")
    ACTIVE = "active", _("Active")
    COMPLETED = "completed", _("Completed")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    REJECTED = "rejected", _("Rejected")


class Enrolment(models.Model):
    run = models.ForeignKey(CourseRun, on_delete=models.CASCADE, related_name="enrolments")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrolments")
    state = models.CharField(max_length=20, choices=EnrolmentState.choices, db_index=True)
    cohort = models.ForeignKey(Cohort, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    # Position in the waitlist: first come, first served (a global sequence, not a timestamp).
    waitlist_position = models.PositiveBigIntegerField(null=True, blank=True, db_index=True)
    state_changed_at = models.DateTimeField(auto_now=True)
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["run", "requested_at"]
        constraints = [models.UniqueConstraint(fields=["run", "user"], name="enrolment_unique")]
        indexes = [models.Index(fields=["run", "state"])]
