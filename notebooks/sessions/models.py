"""A student's lab session (a named JupyterHub server, a Slurm job) and GPU accounting."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from academy.models import Cohort
from courses.models import CourseRun


class SessionState(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    QUEUED = "queued", _("Queued")
    STARTING = "starting", _("Starting")
    RUNNING = "running", _("Running")
    STOPPING = "stopping", _("Stopping")
    ENDED = "ended", _("Ended")
    FAILED = "failed", _("Failed")


LIVE_STATES = [
    SessionState.REQUESTED,
    SessionState.QUEUED,
    SessionState.STARTING,
    SessionState.RUNNING,
    SessionState.STOPPING,
]


class SessionKind(models.TextChoices):
    WORK = "work", _("Lab work")
    AUTHOR = "author", _("Authoring")


class LabSession(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="lab_sessions"
    )
    lab = models.ForeignKey("notebooks.Lab", on_delete=models.CASCADE, related_name="sessions")
    run = models.ForeignKey(CourseRun, on_delete=models.CASCADE, related_name="+")
    cohort = models.ForeignKey(
        Cohort, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    server_name = models.CharField(max_length=64)
    # work: a student (or staff) working in the released lab; author: an instructor editing the
    # source in JupyterLab (notebooks.sessions.authoring), with the create-assignment toolbar.
    kind = models.CharField(max_length=10, choices=SessionKind.choices, default=SessionKind.WORK)
    # author sessions: the version placed in the server when it started (the base of the diff)
    base_version = models.ForeignKey(
        "notebooks.LabVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # author sessions: where the source is in the server, fixed at the start (a lab renamed
    # meanwhile is still saved from the file its author edits)
    notebook_path = models.CharField(max_length=300, blank=True)
    # What was asked of Slurm (a snapshot of the resource profile at start).
    partition = models.CharField(max_length=64)
    gpus = models.PositiveSmallIntegerField(default=0)
    cpus = models.PositiveSmallIntegerField(default=1)
    memory_gb = models.PositiveIntegerField(default=4)
    walltime_minutes = models.PositiveIntegerField()

    state = models.CharField(
        max_length=20, choices=SessionState.choices, default=SessionState.REQUESTED, db_index=True
    )
    slurm_job_id = models.CharField(max_length=32, blank=True, db_index=True)
    node = models.CharField(max_length=200, blank=True)
    pending_reason = models.CharField(max_length=300, blank=True)
    expected_start = models.DateTimeField(null=True, blank=True)
    server_url = models.CharField(max_length=300, blank=True)
    failure_reason = models.CharField(max_length=500, blank=True)
    ended_reason = models.CharField(max_length=40, blank=True)  # stopped, idle, walltime, failed
    requested_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    files_placed_at = models.DateTimeField(null=True, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    # When the hub first answered the worker's start request.  Until then a hub that does not
    # know the server is no sign that it ended: the request is still on its way.
    hub_answered_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    gpu_seconds_saved = models.PositiveBigIntegerField(default=0)
    academy_overhead_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at"]
        constraints = [
            # One live session per person, lab and kind: a double click cannot start two jobs.
            models.UniqueConstraint(
                fields=["user", "lab", "kind"],
                condition=models.Q(state__in=LIVE_STATES),
                name="one_live_session_per_lab",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.lab} · {self.state}"

    @property
    def is_live(self) -> bool:
        return self.state in LIVE_STATES

    @property
    def reserved_gpu_seconds(self) -> int:
        return self.gpus * self.walltime_minutes * 60

    @property
    def seconds_left(self) -> int | None:
        if self.ends_at is None or self.state != SessionState.RUNNING:
            return None
        return max(0, int((self.ends_at - timezone.now()).total_seconds()))


class CohortGpuBudget(models.Model):
    """GPU-hours a cohort may use in one course run."""

    run = models.ForeignKey(CourseRun, on_delete=models.CASCADE, related_name="cohort_budgets")
    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="gpu_budgets")
    gpu_hours = models.DecimalField(_("GPU-hours"), max_digits=10, decimal_places=2)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "cohort"], name="cohort_budget_unique")
        ]

    def __str__(self) -> str:
        return f"{self.cohort} in {self.run}: {self.gpu_hours} GPU-hours"


class GpuUsage(models.Model):
    """One finished (or running) Slurm job from the accounting database, joined through the
    job id to the session, student, run and cohort.  GPU-seconds = ElapsedRaw x gres/gpu."""

    job_id = models.CharField(max_length=32, unique=True)
    session = models.OneToOneField(
        LabSession, null=True, blank=True, on_delete=models.SET_NULL, related_name="usage"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(CourseRun, on_delete=models.CASCADE, related_name="gpu_usage")
    cohort = models.ForeignKey(
        Cohort, null=True, blank=True, on_delete=models.SET_NULL, related_name="gpu_usage"
    )
    partition = models.CharField(max_length=64, blank=True)
    state = models.CharField(max_length=40, blank=True)
    gpus = models.PositiveSmallIntegerField(default=0)
    elapsed_seconds = models.PositiveBigIntegerField(default=0)
    gpu_seconds = models.PositiveBigIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    finished = models.BooleanField(default=False)
    recorded_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["run", "user"]), models.Index(fields=["run", "cohort"])]

    def __str__(self) -> str:
        return f"job {self.job_id}: {self.gpu_seconds} GPU-seconds"

    @property
    def gpu_hours(self) -> Decimal:
        return Decimal(self.gpu_seconds) / 3600


class StrayServer(models.Model):
    """A lab server found on the hub that was not an Academy session (started by a hub admin, a
    leftover from before the lock-down, a lost session row): stopped by the sweep, its GPU time
    recorded from sacct through the job id.  No run to charge it to: operators read it here."""

    hub_user = models.CharField(max_length=150)
    server_name = models.CharField(max_length=255, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    job_id = models.CharField(max_length=32, blank=True, db_index=True)
    found_at = models.DateTimeField(default=timezone.now)
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_error = models.CharField(max_length=300, blank=True)
    partition = models.CharField(max_length=64, blank=True)
    state = models.CharField(max_length=40, blank=True)
    gpus = models.PositiveSmallIntegerField(default=0)
    elapsed_seconds = models.PositiveBigIntegerField(default=0)
    gpu_seconds = models.PositiveBigIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    finished = models.BooleanField(default=False)

    class Meta:
        ordering = ["-found_at"]

    def __str__(self) -> str:
        return f"stray server {self.hub_user}/{self.server_name} (job {self.job_id or '-'})"
