"""Programmes: a curriculum of courses with a requirement tree, versioned, that people are
allocated to; their progress is computed from course results (``rules.evaluate``), and a
satisfied tree leaves a frozen completion record."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from academy.management.commands.translit_messages import to_latin
from academy.models import Cohort, Institution
from courses.models import Course, CourseRun, validate_sectors

from . import rules


def localised(english: str, cyrillic: str) -> str:
    """The text in the reader's language: the Cyrillic text for Serbian, its transliteration for
    Serbian Latin (one-to-one from Cyrillic), English otherwise or when no Serbian was given."""
    language = (get_language() or "en").lower()
    if cyrillic and language == "sr":
        return cyrillic
    if cyrillic and language == "sr-latn":
        return to_latin(cyrillic)
    return english


class ProgrammeStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PUBLISHED = "published", _("Published")
    RETIRED = "retired", _("Retired")


class JoinPolicy(models.TextChoices):
    OPEN = "open", _("Anyone may join")
    APPROVAL = "approval", _("Joining needs approval")
    INVITE = "invite", _("By invite code only")


class Programme(models.Model):
    code = models.SlugField(_("code"), max_length=40, unique=True)
    title = models.CharField(_("title"), max_length=200)
    title_sr = models.CharField(_("title in Serbian (Cyrillic)"), max_length=200, blank=True)
    description = models.TextField(_("description"), blank=True)
    description_sr = models.TextField(_("description in Serbian (Cyrillic)"), blank=True)
    owner = models.ForeignKey(
        Institution,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="programmes",
        help_text=_("Empty: the AI factory itself."),
    )
    eqf_level = models.PositiveSmallIntegerField(
        _("EQF level"), validators=[MinValueValidator(1), MaxValueValidator(8)], default=5
    )
    ects = models.DecimalField(_("ECTS credits"), max_digits=5, decimal_places=1, default=0)
    sectors = models.JSONField(
        _("sectors"), default=list, blank=True, validators=[validate_sectors]
    )
    status = models.CharField(
        _("status"), max_length=20, choices=ProgrammeStatus.choices, default=ProgrammeStatus.DRAFT
    )
    join_policy = models.CharField(
        _("joining"), max_length=20, choices=JoinPolicy.choices, default=JoinPolicy.OPEN
    )
    invite_code = models.CharField(_("invite code"), max_length=40, blank=True)
    managers = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code

    @property
    def display_title(self) -> str:
        return localised(self.title, self.title_sr)

    @property
    def display_description(self) -> str:
        return localised(self.description, self.description_sr)


class ProgrammeVersion(models.Model):
    """One version of the requirement tree.  Editable until published; a published version
    others are allocated to is frozen, and changes go into a new version."""

    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["programme", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "number"], name="programme_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.programme.code} v{self.number}"


class Rule(models.TextChoices):
    ALL_IN_ORDER = rules.ALL_IN_ORDER, _("All, in order")
    ALL = rules.ALL, _("All, in any order")
    AT_LEAST = rules.AT_LEAST, _("At least N of")
    MIN_POINTS = rules.MIN_POINTS, _("Minimum points")


class Requirement(models.Model):
    """A node of a version's tree: a set (with a rule over its children) or a course item.
    The root is the set without a parent."""

    version = models.ForeignKey(
        ProgrammeVersion, on_delete=models.CASCADE, related_name="requirements"
    )
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="children"
    )
    position = models.PositiveIntegerField(default=0)
    title = models.CharField(_("title"), max_length=200, blank=True)
    rule = models.CharField(_("rule"), max_length=20, choices=Rule.choices, blank=True)
    count = models.DecimalField(
        _("N or minimum points"), max_digits=6, decimal_places=1, default=Decimal(0)
    )
    course = models.ForeignKey(
        Course, on_delete=models.PROTECT, null=True, blank=True, related_name="requirements"
    )
    points = models.DecimalField(_("points (ECTS)"), max_digits=5, decimal_places=1, default=0)
    min_grade = models.DecimalField(
        _("minimum grade (%)"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    excluded_runs = models.ManyToManyField(CourseRun, blank=True, related_name="+")

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(course__isnull=True) & ~models.Q(rule=""))
                | (models.Q(course__isnull=False) & models.Q(rule="")),
                name="requirement_set_or_course",
            )
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def is_set(self) -> bool:
        return self.course is None

    @property
    def label(self) -> str:
        if self.course is not None:
            return self.course.code
        return self.title or str(Rule(self.rule).label)


class AllocationState(models.TextChoices):
    PENDING = "pending", _("Waiting for approval")
    ACTIVE = "active", _("Following")
    COMPLETED = "completed", _("Completed")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class AllocationSource(models.TextChoices):
    SELF = "self", _("Joined")
    APPROVAL = "approval", _("Approved")
    INVITE = "invite", _("Invite code")
    COHORT = "cohort", _("Cohort")
    STAFF = "staff", _("Added by staff")


class Allocation(models.Model):
    """A person following one version of a programme, with their progress as last computed
    (``progress``: node id → state; never edited by hand)."""

    version = models.ForeignKey(
        ProgrammeVersion, on_delete=models.PROTECT, related_name="allocations"
    )
    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="allocations")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="allocations"
    )
    state = models.CharField(max_length=20, choices=AllocationState.choices, db_index=True)
    source = models.CharField(max_length=20, choices=AllocationSource.choices)
    cohort = models.ForeignKey(Cohort, on_delete=models.SET_NULL, null=True, blank=True)
    progress = models.JSONField(default=dict, editable=False)
    items_done = models.PositiveIntegerField(default=0, editable=False)
    items_total = models.PositiveIntegerField(default=0, editable=False)
    credits_earned = models.DecimalField(max_digits=6, decimal_places=1, default=0, editable=False)
    computed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["programme", "user"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "user"], name="allocation_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.programme}"


class ProgrammeCohort(models.Model):
    """A cohort allocated as a whole: its members, and those who join it later, follow the
    programme."""

    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="cohorts")
    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="programmes")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["programme", "cohort"], name="programme_cohort_unique")
        ]

    def __str__(self) -> str:
        return f"{self.cohort} in {self.programme}"


class Completion(models.Model):
    """The frozen evidence that a person satisfied a version's tree: the runs, grades and
    dates that did it.  Never recomputed; a later grade change flags it for review."""

    allocation = models.OneToOneField(
        Allocation, on_delete=models.PROTECT, related_name="completion"
    )
    version = models.ForeignKey(ProgrammeVersion, on_delete=models.PROTECT, related_name="+")
    evidence = models.JSONField()
    credits = models.DecimalField(max_digits=6, decimal_places=1)
    completed_at = models.DateTimeField(auto_now_add=True)
    needs_review = models.BooleanField(default=False)
    review_reason = models.CharField(max_length=500, blank=True)

    def __str__(self) -> str:
        return f"{self.allocation} completed"


class EscoSkill(models.Model):
    """One skill of the ESCO classification (loaded by ``manage.py load_esco_skills``): its
    concept URI and English description, for the learning-outcome picker."""

    uri = models.URLField(_("ESCO URI"), max_length=300, unique=True)
    label = models.CharField(_("label"), max_length=300)
    description = models.TextField(_("description"), blank=True)

    class Meta:
        ordering = ["label"]

    def __str__(self) -> str:
        return self.label


class MasteryMethod(models.TextChoices):
    """How evidence becomes mastery (Canvas's calculation methods)."""

    HIGHEST = "highest", _("Highest score")
    LATEST = "latest", _("Latest score")
    DECAYING_AVERAGE = "decaying_average", _("Decaying average")
    N_MASTERY = "n_mastery", _("Mastered N times")


class LearningOutcome(models.Model):
    """A learning outcome of a programme or of a course (exactly one of the two), in a tree;
    optionally tied to ESCO skills, aligned to lab cells and grading categories
    (``OutcomeAlignment``), with the rule that turns evidence into mastery."""

    programme = models.ForeignKey(
        Programme, on_delete=models.CASCADE, null=True, blank=True, related_name="outcomes"
    )
    course = models.ForeignKey(
        Course, on_delete=models.CASCADE, null=True, blank=True, related_name="outcomes"
    )
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="children"
    )
    position = models.PositiveIntegerField(default=0)
    code = models.CharField(_("code"), max_length=40, blank=True)
    title = models.CharField(_("outcome"), max_length=300)
    title_sr = models.CharField(_("outcome in Serbian (Cyrillic)"), max_length=300, blank=True)
    esco_skills = models.ManyToManyField(EscoSkill, blank=True, related_name="outcomes")
    method = models.CharField(
        _("mastery rule"),
        max_length=20,
        choices=MasteryMethod.choices,
        default=MasteryMethod.HIGHEST,
    )
    mastery_percent = models.DecimalField(
        _("mastery at (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal(80),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    decay_percent = models.PositiveSmallIntegerField(
        _("weight of the latest score (%)"),
        default=65,
        validators=[MinValueValidator(1), MaxValueValidator(99)],
        help_text=_("Decaying average: the latest score's weight; the rest carries the past."),
    )
    n_times = models.PositiveSmallIntegerField(
        _("times mastered"),
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(20)],
        help_text=_("N-mastery: how many scores at the mastery level are needed."),
    )

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(programme__isnull=True) & models.Q(course__isnull=False))
                | (models.Q(programme__isnull=False) & models.Q(course__isnull=True)),
                name="outcome_programme_or_course",
            )
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.title}".strip()

    @property
    def display_title(self) -> str:
        return localised(self.title, self.title_sr)


class OutcomeAlignment(models.Model):
    """Evidence for an outcome: one graded cell of a lab (its nbgrader grade id), or a grading
    category of a run (its score under the run's policy)."""

    outcome = models.ForeignKey(
        LearningOutcome, on_delete=models.CASCADE, related_name="alignments"
    )
    lab = models.ForeignKey(
        "notebooks.Lab", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    grade_id = models.CharField(_("graded cell"), max_length=100, blank=True)
    category = models.ForeignKey(
        "courses.GradingCategory",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(lab__isnull=False, category__isnull=True) & ~models.Q(grade_id="")
                )
                | models.Q(lab__isnull=True, category__isnull=False, grade_id=""),
                name="alignment_cell_or_category",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.outcome} ← {self.lab_id}:{self.grade_id}" if self.lab_id else str(self.outcome)
        )
