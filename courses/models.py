"""Courses, runs (intakes), content, staff, enrolment and the grading policy."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import FileExtensionValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
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


def validate_sectors(value: object) -> None:
    """Sector tags are a JSON list of distinct Sector values."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError({"sectors": _("Sectors must be a list of sector names.")})
    unknown = sorted(set(value) - set(Sector.values))
    if unknown:
        raise ValidationError(
            {"sectors": _("Unknown sectors: %(names)s.") % {"names": ", ".join(unknown)}}
        )
    if len(set(value)) != len(value):
        raise ValidationError({"sectors": _("A sector is listed twice.")})


class Course(models.Model):
    code = models.CharField(_("code"), max_length=30, unique=True)
    title = models.CharField(_("title"), max_length=200)
    summary = models.CharField(_("summary"), max_length=500, blank=True)
    description = models.TextField(_("description (Markdown)"), blank=True)
    language = models.CharField(_("language"), max_length=10, default="en")
    level = models.CharField(
        _("level"), max_length=20, choices=Level.choices, default=Level.INTRODUCTORY
    )
    sectors = models.JSONField(_("sectors"), default=list, blank=True)
    effort_hours = models.PositiveSmallIntegerField(_("estimated effort (hours)"), default=10)
    # What a certificate of the course states (credentials): empty when not credit-rated.
    ects = models.DecimalField(
        _("ECTS credits"), max_digits=4, decimal_places=1, null=True, blank=True
    )
    eqf_level = models.PositiveSmallIntegerField(
        _("EQF level"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(8)],
    )
    prerequisites = models.ManyToManyField(
        "self",
        symmetrical=False,
        blank=True,
        related_name="+",
        verbose_name=_("prerequisites"),
        help_text=_("Courses to pass before enrolling: enrolment is refused without them."),
    )
    recommended = models.ManyToManyField(
        "self",
        symmetrical=False,
        blank=True,
        related_name="+",
        verbose_name=_("recommended before"),
        help_text=_("Courses worth passing first: shown, never enforced."),
    )
    is_published = models.BooleanField(_("published"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.title}"

    def clean(self) -> None:
        validate_sectors(self.sectors)


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
    capacity = models.PositiveIntegerField(
        _("capacity"), null=True, blank=True, help_text=_("Empty: no limit.")
    )
    policy = models.CharField(
        _("enrolment policy"),
        max_length=20,
        choices=EnrolmentPolicy.choices,
        default=EnrolmentPolicy.OPEN,
    )
    is_public = models.BooleanField(
        _("open to everyone"),
        default=True,
        help_text=_("Otherwise only the listed institutions and cohorts."),
    )
    allowed_institutions = models.ManyToManyField(Institution, blank=True, related_name="+")
    allowed_cohorts = models.ManyToManyField(Cohort, blank=True, related_name="+")
    pass_mark = models.DecimalField(
        _("pass mark (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("50"),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    # Counters kept by the enrolment services under a row lock on the run: the capacity check.
    active_count = models.PositiveIntegerField(default=0, editable=False)
    # The last waitlist position handed out in this run (taken under the same row lock).
    waitlist_seq = models.PositiveBigIntegerField(default=0, editable=False)
    gpu_budget_hours = models.DecimalField(
        _("GPU budget (GPU-hours)"), max_digits=10, decimal_places=2, null=True, blank=True
    )
    gpu_hours_per_student = models.DecimalField(
        _("GPU cap per student (GPU-hours)"), max_digits=8, decimal_places=2, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gte=models.F("starts_at")), name="run_dates_ordered"
            ),
            models.CheckConstraint(
                condition=models.Q(enrolment_closes_at__gte=models.F("enrolment_opens_at")),
                name="run_enrolment_window_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.course.code} · {self.title}"


class StaffRole(models.TextChoices):
    INSTRUCTOR = "instructor", _("Instructor")
    TEACHING_ASSISTANT = "ta", _("Teaching assistant")


class CourseStaff(models.Model):
    run = models.ForeignKey(CourseRun, on_delete=models.CASCADE, related_name="staff")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="teaching"
    )
    role = models.CharField(max_length=20, choices=StaffRole.choices, default=StaffRole.INSTRUCTOR)
    # Teaching assistants grade and see the run; changing seats, invite codes, the grading
    # policy or content is the instructors' unless an instructor grants it here.
    can_edit = models.BooleanField(
        _("may edit the run"),
        default=False,
        help_text=_("Seats, invite codes, grading policy and content (instructors always may)."),
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "user"], name="staff_unique")]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()})"

    @property
    def may_edit(self) -> bool:
        return self.role == StaffRole.INSTRUCTOR or self.can_edit


class GradingCategory(models.Model):
    """A part of a run's grading policy: e.g. Labs 70 %, drop the lowest one."""

    run = models.ForeignKey(CourseRun, on_delete=models.CASCADE, related_name="categories")
    name = models.CharField(_("name"), max_length=100)
    weight = models.DecimalField(
        _("weight (%)"),
        max_digits=5,
        decimal_places=2,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
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

    def __str__(self) -> str:
        return self.title


class Lesson(models.Model):
    module = models.ForeignKey(Module, on_delete=models.CASCADE, related_name="lessons")
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("body (Markdown)"), blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["module", "position", "id"]

    def __str__(self) -> str:
        return self.title


class EnrolmentState(models.TextChoices):
    PENDING = "pending", _("Pending approval")
    WAITLISTED = "waitlisted", _("Waitlisted")
    ACTIVE = "active", _("Active")
    COMPLETED = "completed", _("Completed")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    REJECTED = "rejected", _("Rejected")


class Enrolment(models.Model):
    run = models.ForeignKey(CourseRun, on_delete=models.CASCADE, related_name="enrolments")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrolments"
    )
    state = models.CharField(max_length=20, choices=EnrolmentState.choices, db_index=True)
    cohort = models.ForeignKey(
        Cohort, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    # Position in the waitlist: first come, first served (a global sequence, not a timestamp).
    waitlist_position = models.PositiveBigIntegerField(null=True, blank=True, db_index=True)
    state_changed_at = models.DateTimeField(auto_now=True)
    reason = models.CharField(max_length=500, blank=True)
    invite_code = models.ForeignKey(
        "InviteCode", null=True, blank=True, on_delete=models.SET_NULL, related_name="enrolments"
    )

    class Meta:
        ordering = ["run", "requested_at"]
        constraints = [models.UniqueConstraint(fields=["run", "user"], name="enrolment_unique")]
        indexes = [models.Index(fields=["run", "state"])]

    def __str__(self) -> str:
        return f"{self.user} in {self.run_id}: {self.state}"

    # Pages and templates ask these rather than listing states themselves.
    @property
    def holds_seat(self) -> bool:
        """Counts against capacity and opens the run's pages (``SEAT_STATES``)."""
        return self.state in SEAT_STATES

    @property
    def is_open(self) -> bool:
        """In the run or on the way in (``OPEN_STATES``): may not request again."""
        return self.state in OPEN_STATES


# Seat-holding states: these count against capacity (``CourseRun.active_count``).
SEAT_STATES = (EnrolmentState.ACTIVE, EnrolmentState.COMPLETED)
# States in which a person is "in" the run (may not request again).
OPEN_STATES = (EnrolmentState.PENDING, EnrolmentState.WAITLISTED, *SEAT_STATES)


class InviteCode(models.Model):
    """A code that lets people enrol in an invite-only run, with an expiry and a use limit."""

    run = models.ForeignKey(CourseRun, on_delete=models.CASCADE, related_name="invite_codes")
    code = models.CharField(_("code"), max_length=40, unique=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    max_uses = models.PositiveIntegerField(
        _("maximum uses"), null=True, blank=True, help_text=_("Empty: no limit.")
    )
    uses = models.PositiveIntegerField(default=0, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.code

    # The one decision of when a code stops working: enrolment (``services._check_invite_code``)
    # and the settings page both ask these, so the badge and the refusal agree to the instant.
    def is_expired(self, now: datetime | None = None) -> bool:
        """Past its expiry: a code still works at the very instant it expires."""
        return self.expires_at is not None and self.expires_at < (now or timezone.now())

    @property
    def is_used_up(self) -> bool:
        return self.max_uses is not None and self.uses >= self.max_uses


def attachment_max_bytes() -> int:
    return settings.COURSES_ATTACHMENT_MAX_BYTES


def _attachment_size(file: object) -> None:
    limit = attachment_max_bytes()
    if getattr(file, "size", 0) > limit:
        raise ValidationError(
            _("The file is larger than %(mb)s MB.") % {"mb": limit // (1024 * 1024)}
        )


ATTACHMENT_EXTENSIONS = [
    "pdf",
    "png",
    "jpg",
    "jpeg",
    "gif",
    "svg",
    "zip",
    "ipynb",
    "py",
    "csv",
    "txt",
    "md",
    "json",
]


class Attachment(models.Model):
    """A file of a lesson: images are shown inline in the body, others are downloads.  Served
    through an access-checked view, never straight from MEDIA_ROOT."""

    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(
        _("file"),
        upload_to="courses/attachments/%Y/%m/",
        validators=[FileExtensionValidator(ATTACHMENT_EXTENSIONS), _attachment_size],
    )
    name = models.CharField(_("name"), max_length=200)
    size = models.PositiveBigIntegerField(default=0, editable=False)
    content_type = models.CharField(max_length=100, blank=True)
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["lesson", "name"]

    def __str__(self) -> str:
        return self.name


class LessonCompletion(models.Model):
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="completions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="lesson_completions"
    )
    completed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lesson", "user"], name="completion_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} done {self.lesson_id}"


class BulkUpload(models.Model):
    """A bulk-enrolment CSV kept between the preview and the apply, named by its hash.  The
    same file for the same run is one row: uploading it again reuses it."""

    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(CourseRun, on_delete=models.CASCADE, related_name="bulk_uploads")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    sha256 = models.CharField(max_length=64)
    filename = models.CharField(max_length=255, blank=True)
    content = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["institution", "run", "sha256"], name="bulk_upload_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.filename or 'upload'} ({self.sha256[:12]})"


class ReservedEnrolment(models.Model):
    """A bulk-enrolment line for someone who is not (yet) a member of the institution, with or
    without an account: it becomes an enrolment when they accept that institution's invitation
    (``services.enrolment_claim_reserved``)."""

    run = models.ForeignKey(CourseRun, on_delete=models.CASCADE, related_name="reservations")
    email = models.EmailField()
    cohort = models.ForeignKey(
        Cohort, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # One reservation per institution: another institution's reservation of the same
        # address is neither visible nor in the way.
        constraints = [
            models.UniqueConstraint(
                fields=["run", "institution", "email"], name="reservation_unique"
            )
        ]
        indexes = [models.Index(fields=["email", "claimed_at"])]

    def __str__(self) -> str:
        return f"{self.email} -> run {self.run_id}"
