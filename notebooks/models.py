"""Graded notebook labs: labs on a course run, immutable source versions, submissions, grading
runs (the history of every grading), manual grades, extensions and resource profiles.

Files (source notebooks hold the solutions and hidden tests) live in a private storage that has
no URL: they are only ever served through views that check the reader's rights.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from academy.models import Cohort
from courses.models import CourseRun, GradingCategory


class PrivateStorage(FileSystemStorage):
    """File storage outside MEDIA_ROOT (never served by the static/media handlers).

    The location is read at use time, so tests (and a worker started with another
    ``ACADEMY_VAR_DIR``) can point it elsewhere with ``NOTEBOOKS_PRIVATE_ROOT``.
    """

    def __init__(self) -> None:
        super().__init__(base_url=None)

    @property
    def base_location(self) -> str:  # type: ignore[override]
        return str(settings.NOTEBOOKS_PRIVATE_ROOT)

    @property
    def location(self) -> str:  # type: ignore[override]
        return os.path.abspath(self.base_location)

    def url(self, name: str | None) -> str:
        raise ValueError("Private files have no URL; serve them through a checked view.")

    def deconstruct(self):  # type: ignore[no-untyped-def]
        return ("notebooks.models.PrivateStorage", (), {})


private_storage = PrivateStorage()


def _version_path(instance: LabVersion, filename: str) -> str:
    return f"labs/{instance.lab_id}/versions/{instance.number}/{filename}"


def _data_path(instance: LabDataFile, filename: str) -> str:
    return f"labs/{instance.lab_id}/data/{instance.sha256[:16]}/{filename}"


def _submission_path(instance: Submission, filename: str) -> str:
    return f"labs/{instance.lab_id}/submissions/{instance.student_id}/{instance.attempt}/{filename}"


class ResourceProfile(models.Model):
    """What a lab's session gets on the cluster (the sessions side builds on it)."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    partition = models.CharField(_("partition"), max_length=64)
    gpus = models.PositiveSmallIntegerField(_("GPUs"), default=0)
    cpus = models.PositiveSmallIntegerField(_("CPUs"), default=1)
    memory_gb = models.PositiveIntegerField(_("memory (GB)"), default=4)
    max_walltime_minutes = models.PositiveIntegerField(
        _("maximum wall time (minutes)"), default=120
    )
    allowed_runs = models.ManyToManyField(CourseRun, blank=True, related_name="resource_profiles")
    allowed_cohorts = models.ManyToManyField(Cohort, blank=True, related_name="resource_profiles")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.partition}, {self.gpus} GPU)"


class LatePolicy(models.TextChoices):
    NONE = "none", _("No penalty")
    ZERO = "zero", _("Zero after the due date")
    PER_HOUR = "per_hour", _("Penalty per hour late")
    PER_DAY = "per_day", _("Penalty per day late")


class FeedbackRelease(models.TextChoices):
    IMMEDIATE = "immediate", _("As soon as it is graded")
    MANUAL = "manual", _("When an instructor releases it")


class Lab(models.Model):
    run = models.ForeignKey(CourseRun, on_delete=models.CASCADE, related_name="labs")
    title = models.CharField(_("title"), max_length=200)
    instructions = models.TextField(_("instructions"), blank=True)
    opens_at = models.DateTimeField(_("opens"), null=True, blank=True)
    due_at = models.DateTimeField(_("due"))
    late_policy = models.CharField(
        _("late policy"), max_length=20, choices=LatePolicy.choices, default=LatePolicy.NONE
    )
    late_penalty_percent = models.DecimalField(
        _("penalty per hour/day (%)"),
        max_digits=5,
        decimal_places=2,
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    late_penalty_cap_percent = models.DecimalField(
        _("penalty cap (%)"),
        max_digits=5,
        decimal_places=2,
        default=100,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    attempt_limit = models.PositiveSmallIntegerField(
        _("attempt limit"), null=True, blank=True, help_text=_("Empty: no limit.")
    )
    category = models.ForeignKey(
        GradingCategory,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="labs",
        verbose_name=_("grading category"),
    )
    weight = models.DecimalField(
        _("weight in its category"),
        max_digits=6,
        decimal_places=2,
        default=1,
        validators=[MinValueValidator(0)],
    )
    resource_profile = models.ForeignKey(
        ResourceProfile,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="labs",
        verbose_name=_("resource profile"),
    )
    # Where submissions are graded: None is the CPU sandbox of the Celery workers; a profile is a
    # Slurm batch job on its partition with its GPUs and wall time (notebooks.cluster_grading).
    grading_profile = models.ForeignKey(
        ResourceProfile,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="graded_labs",
        verbose_name=_("graded on"),
        help_text=_("Empty: the CPU sandbox. A profile: a batch job on its cluster partition."),
    )
    feedback_release = models.CharField(
        _("feedback release"),
        max_length=20,
        choices=FeedbackRelease.choices,
        default=FeedbackRelease.IMMEDIATE,
    )
    anonymous_grading = models.BooleanField(_("anonymous manual grading"), default=False)
    # Under a deadline rush a student may submit again before the first attempt is graded: the
    # older one, still queued, is then skipped (and marked so) rather than graded for nothing.
    skip_superseded = models.BooleanField(
        _("skip superseded submissions"),
        default=True,
        help_text=_(
            "A submission still waiting in the grading queue is not graded once the same "
            "student submits a newer one; it is marked as superseded."
        ),
    )
    # The version students get; set by lab_release (None: not released yet).
    released_version = models.ForeignKey(
        "LabVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
    feedback_released_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The library lab this one was copied from (services.lab_copy); kept as provenance only.
    copied_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="copies"
    )

    class Meta:
        ordering = ["run", "due_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(opens_at__isnull=True)
                | models.Q(due_at__gte=models.F("opens_at")),
                name="lab_dates_ordered",
                violation_error_message=_("A lab cannot be due before it opens."),
            ),
        ]

    def __str__(self) -> str:
        return self.title


# The settings of a lab its author chooses, in the order forms and the API show them.
LAB_SETTINGS = (
    "title",
    "instructions",
    "opens_at",
    "due_at",
    "late_policy",
    "late_penalty_percent",
    "late_penalty_cap_percent",
    "attempt_limit",
    "category",
    "weight",
    "resource_profile",
    "grading_profile",
    "feedback_release",
    "anonymous_grading",
    "skip_superseded",
)


class LabVersion(models.Model):
    """One uploaded source notebook: immutable, with its released student version."""

    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    source = models.FileField(storage=private_storage, upload_to=_version_path, max_length=300)
    source_sha256 = models.CharField(max_length=64)
    student = models.FileField(storage=private_storage, upload_to=_version_path, max_length=300)
    student_sha256 = models.CharField(max_length=64)
    max_score = models.DecimalField(max_digits=8, decimal_places=2, default=0)
    # [{"grade_id", "kind", "points", "cell_type"}] in notebook order: the graded cells.
    cells = models.JSONField(default=list)
    warnings = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["lab", "-number"]
        constraints = [models.UniqueConstraint(fields=["lab", "number"], name="labversion_unique")]

    def __str__(self) -> str:
        return f"{self.lab} v{self.number}"


class VersionCheckStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Testing")
    DONE = "done", _("Done")
    FAILED = "failed", _("Could not be tested")


class VersionCheck(models.Model):
    """ "Test this version": the source's own solution graded against it (it must score full
    marks) and the released student version graded (its tests must fail cleanly).  A release of
    a version whose latest check did not pass needs an override with a reason (audited)."""

    version = models.ForeignKey(LabVersion, on_delete=models.CASCADE, related_name="checks")
    status = models.CharField(
        max_length=20, choices=VersionCheckStatus.choices, default=VersionCheckStatus.QUEUED
    )
    # Each: {"score", "max_score", "outcome", "reason", "cells": {grade_id: {...}}}
    solution = models.JSONField(default=dict, blank=True)
    student = models.JSONField(default=dict, blank=True)
    passed = models.BooleanField(null=True)  # None until done
    problems = models.JSONField(default=list, blank=True)  # why it did not pass (English)
    warnings = models.JSONField(default=list, blank=True)  # worth a look, not blocking
    reason = models.CharField(max_length=500, blank=True)  # infrastructure failure
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    # A lab graded on the cluster is tested there too, as one Slurm job on its grading profile
    # (``cluster_grading.check_job_start``); empty for a check in the CPU sandbox.
    job_name = models.CharField(max_length=100, blank=True)
    job_id = models.CharField(max_length=40, blank=True)
    node = models.CharField(max_length=200, blank=True)
    pending_reason = models.CharField(max_length=300, blank=True)  # Slurm's, in plain words
    gpu_seconds = models.PositiveBigIntegerField(default=0)  # sacct: elapsed x GPUs

    class Meta:
        ordering = ["version", "-requested_at", "-id"]

    def __str__(self) -> str:
        return f"check of {self.version}: {self.status}"

    @property
    def is_final(self) -> bool:
        return self.status in (VersionCheckStatus.DONE, VersionCheckStatus.FAILED)


class LabDataFile(models.Model):
    """A file copied into the grading sandbox's working folder (and the student's session)."""

    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="data_files")
    name = models.CharField(max_length=200)
    file = models.FileField(storage=private_storage, upload_to=_data_path, max_length=300)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["lab", "name"]
        constraints = [models.UniqueConstraint(fields=["lab", "name"], name="labdatafile_unique")]

    def __str__(self) -> str:
        return self.name


class Extension(models.Model):
    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="extensions")
    student = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    due_at = models.DateTimeField(_("extended due date"))
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lab", "student"], name="extension_unique")]

    def __str__(self) -> str:
        return f"{self.lab} · {self.student_id} → {self.due_at:%Y-%m-%d %H:%M}"


class SubmissionStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Grading")
    GRADED = "graded", _("Graded")
    NEEDS_MANUAL = "needs_manual", _("Needs manual grading")
    FAILED = "failed", _("Failed")
    SUPERSEDED = "superseded", _("Skipped: superseded")


FINAL_STATUSES = {
    SubmissionStatus.GRADED,
    SubmissionStatus.NEEDS_MANUAL,
    SubmissionStatus.FAILED,
    SubmissionStatus.SUPERSEDED,
}


class SubmissionSource(models.TextChoices):
    UPLOAD = "upload", _("Upload")
    SESSION = "session", _("Lab session")


class Submission(models.Model):
    """A student's notebook: immutable, stamped with the server's clock."""

    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="submissions")
    student = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="submissions"
    )
    attempt = models.PositiveSmallIntegerField()
    file = models.FileField(storage=private_storage, upload_to=_submission_path, max_length=300)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField(default=0)
    source = models.CharField(
        max_length=20, choices=SubmissionSource.choices, default=SubmissionSource.UPLOAD
    )
    submitted_at = models.DateTimeField(default=timezone.now, db_index=True)
    late_seconds = models.PositiveIntegerField(default=0)
    status = models.CharField(
        max_length=20,
        choices=SubmissionStatus.choices,
        default=SubmissionStatus.QUEUED,
        db_index=True,
    )
    reason = models.CharField(max_length=500, blank=True)
    # The grading run the queue should produce next; bumped by a regrade.  The task carries
    # this number, so a stale task (an older regrade) does nothing.
    grading_number = models.PositiveIntegerField(default=1)
    latest_run = models.ForeignKey(
        "GradingRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Scores of the latest completed run plus manual grades (None until graded).
    auto_score = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    score = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    max_score = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    feedback_released = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-submitted_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["lab", "student", "attempt"], name="submission_unique"),
        ]
        indexes = [models.Index(fields=["lab", "student", "-attempt"])]

    def __str__(self) -> str:
        return f"{self.lab} · {self.student_id} #{self.attempt}"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


class GradingOutcome(models.TextChoices):
    OK = "ok", _("Completed")
    TIMEOUT = "timeout", _("Time limit")
    MEMORY = "memory", _("Memory limit")
    CRASH = "crash", _("Kernel crash")
    OUTPUT = "output", _("Output limit")
    INVALID = "invalid", _("Invalid submission")
    ERROR = "error", _("Grader error")


class GradingRunStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class GradingRun(models.Model):
    """One grading (or regrading) of a submission; kept forever as history."""

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="runs")
    number = models.PositiveIntegerField()
    lab_version = models.ForeignKey(LabVersion, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(
        max_length=20, choices=GradingRunStatus.choices, default=GradingRunStatus.RUNNING
    )
    outcome = models.CharField(max_length=20, choices=GradingOutcome.choices, blank=True)
    score = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    max_score = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    needs_manual = models.BooleanField(default=False)
    # {grade_id: {"score": float|None, "max_score": float, "kind": str, "output": str, ...}}
    cells = models.JSONField(default=dict, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    deliveries = models.PositiveSmallIntegerField(default=0)  # >1: a redelivered task
    worker = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["submission", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["submission", "number"], name="gradingrun_unique"),
        ]

    def __str__(self) -> str:
        return f"run {self.number} of {self.submission}"


class ManualGrade(models.Model):
    """A human's score for one manually graded cell; the audit log keeps the history."""

    submission = models.ForeignKey(
        Submission, on_delete=models.CASCADE, related_name="manual_grades"
    )
    grade_id = models.CharField(max_length=100)
    score = models.DecimalField(max_digits=8, decimal_places=2, validators=[MinValueValidator(0)])
    comment = models.TextField(blank=True)
    grader = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    graded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["submission", "grade_id"]
        constraints = [
            models.UniqueConstraint(fields=["submission", "grade_id"], name="manualgrade_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.grade_id}: {self.score}"


# ------------------------------------------------------------ grading on the cluster (issue 14)


class GradingJobState(models.TextChoices):
    SUBMITTING = "submitting", _("Submitting")
    PENDING = "pending", _("Queued on the cluster")
    RUNNING = "running", _("Running on the cluster")
    COLLECTED = "collected", _("Result read back")
    RETRIED = "retried", _("Ended without a result; retried")
    FAILED = "failed", _("Ended without a result; failed")
    ABANDONED = "abandoned", _("No longer needed")


GRADING_JOB_ACTIVE = (GradingJobState.SUBMITTING, GradingJobState.PENDING, GradingJobState.RUNNING)


class GradingJob(models.Model):
    """One Slurm batch job grading one GradingRun (a retry is a new row, ``attempt`` + 1).

    Its GPU-seconds (sacct's ElapsedRaw x gres/gpu) are charged to the run's grading, never to
    the student's GPU time: this is the grading GPU usage record the burn-down shows."""

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="jobs")
    number = models.PositiveIntegerField()  # the GradingRun's number
    attempt = models.PositiveSmallIntegerField(default=1)
    run = models.ForeignKey(CourseRun, on_delete=models.CASCADE, related_name="grading_jobs")
    profile = models.ForeignKey(
        ResourceProfile, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    name = models.CharField(max_length=100, unique=True)  # Slurm job name
    job_id = models.CharField(max_length=32, blank=True, db_index=True)
    state = models.CharField(
        max_length=20,
        choices=GradingJobState.choices,
        default=GradingJobState.SUBMITTING,
        db_index=True,
    )
    slurm_state = models.CharField(max_length=40, blank=True)  # COMPLETED, CANCELLED, TIMEOUT..
    pending_reason = models.CharField(max_length=300, blank=True)  # in plain words
    reason = models.CharField(max_length=500, blank=True)  # why it ended without a result
    node = models.CharField(max_length=200, blank=True)
    exit_code = models.CharField(max_length=20, blank=True)
    partition = models.CharField(max_length=64, blank=True)
    gpus = models.PositiveSmallIntegerField(default=0)
    elapsed_seconds = models.PositiveBigIntegerField(default=0)
    gpu_seconds = models.PositiveBigIntegerField(default=0)
    accounted = models.BooleanField(default=False)  # sacct's final figures are in
    submitted_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["submission", "number", "attempt"]
        constraints = [
            models.UniqueConstraint(
                fields=["submission", "number", "attempt"], name="gradingjob_unique"
            ),
        ]
        indexes = [models.Index(fields=["run", "state"])]

    def __str__(self) -> str:
        return f"{self.name} (job {self.job_id or '-'}, {self.state})"

    @property
    def is_active(self) -> bool:
        return self.state in GRADING_JOB_ACTIVE


# ------------------------------------------------------------ the grading queue (issue 15)


class TicketState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Claimed by a worker")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    SUPERSEDED = "superseded", _("Skipped: a newer submission replaced it")
    CANCELLED = "cancelled", _("Cancelled")


TICKET_OPEN = (TicketState.QUEUED, TicketState.RUNNING)


class TicketKind(models.TextChoices):
    SUBMISSION = "submission", _("New submission")
    REGRADE = "regrade", _("Regrade")


class LabRegradeState(models.TextChoices):
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


class LabRegrade(models.Model):
    """A regrade of a whole lab: one ticket per student's latest submission, graded in the
    background; cancelling it drops the tickets not yet started (their submissions keep the
    score they had), the ones under way finish (with the new score)."""

    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="regrades")
    state = models.CharField(
        max_length=20, choices=LabRegradeState.choices, default=LabRegradeState.RUNNING
    )
    total = models.PositiveIntegerField(default=0)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["lab", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["lab"],
                condition=models.Q(state="running"),
                name="labregrade_one_running",
            ),
        ]

    def __str__(self) -> str:
        return f"regrade of {self.lab} ({self.state})"


class GradingTicket(models.Model):
    """One grading to do: the grading queue, kept in the database (the source of truth).

    Celery messages carry no submission: each one asks a worker to claim the fairest queued
    ticket (``notebooks.queue``): lanes per lab, served round-robin between course runs and,
    within a run, between its labs.  A claimed ticket names the message that claimed it
    (``claim_token``), so a redelivered or retried message continues its own ticket, and holds
    a lease after which another worker may take it over."""

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="tickets")
    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="tickets")  # the lane
    run = models.ForeignKey(CourseRun, on_delete=models.CASCADE, related_name="grading_tickets")
    kind = models.CharField(max_length=20, choices=TicketKind.choices)
    # Within a lane lower goes first: new submissions (0) before a whole lab's regrade (1).
    priority = models.PositiveSmallIntegerField(default=0)
    # The grading run this ticket produces; a regrade's is drawn when it is claimed.
    number = models.PositiveIntegerField(null=True, blank=True)
    regrade = models.ForeignKey(
        LabRegrade, null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    state = models.CharField(max_length=20, choices=TicketState.choices, default=TicketState.QUEUED)
    queued_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=64, blank=True, db_index=True)
    claims = models.PositiveSmallIntegerField(default=0)  # >1: redelivered or taken over
    worker = models.CharField(max_length=200, blank=True)
    on_cluster = models.BooleanField(default=False)  # handed to Slurm: done for the workers
    token_sent_at = models.DateTimeField(null=True, blank=True)  # last message asking for it
    finished_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["queued_at", "id"]
        constraints = [
            # At most one queued ticket per submission: queueing twice is a no-op.
            models.UniqueConstraint(
                fields=["submission"],
                condition=models.Q(state="queued"),
                name="gradingticket_one_queued",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "lab", "priority", "queued_at"]),
            models.Index(fields=["lab", "claimed_at"]),
            models.Index(fields=["finished_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} ticket of {self.submission} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state in TICKET_OPEN
