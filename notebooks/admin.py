"""Operators' view of the labs side.  Submissions, versions and grading runs are immutable
records: read-only here (changes go through the services, which audit them)."""

from django.contrib import admin

from .models import (
    Extension,
    GradingJob,
    GradingRun,
    GradingTicket,
    Lab,
    LabDataFile,
    LabRegrade,
    LabVersion,
    ManualGrade,
    ResourceProfile,
    Submission,
    VersionCheck,
)  # fmt: skip


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(ResourceProfile)
class ResourceProfileAdmin(admin.ModelAdmin):
    list_display = ["name", "partition", "gpus", "cpus", "memory_gb", "max_walltime_minutes"]
    filter_horizontal = ["allowed_runs", "allowed_cohorts"]


@admin.register(Lab)
class LabAdmin(admin.ModelAdmin):
    list_display = ["title", "run", "due_at", "late_policy", "released_version", "skip_superseded"]
    list_filter = ["late_policy", "feedback_release", "skip_superseded"]
    list_select_related = ["run__course", "released_version"]
    search_fields = ["title"]
    raw_id_fields = ["run", "category", "released_version", "created_by"]


@admin.register(LabVersion)
class LabVersionAdmin(ReadOnlyAdmin):
    list_display = ["lab", "number", "max_score", "created_at", "created_by"]
    list_select_related = ["lab", "created_by"]


@admin.register(Submission)
class SubmissionAdmin(ReadOnlyAdmin):
    list_display = ["lab", "student", "attempt", "submitted_at", "status", "score", "max_score"]
    list_filter = ["status", "source"]
    list_select_related = ["lab", "student"]
    search_fields = ["student__username", "lab__title"]


@admin.register(GradingRun)
class GradingRunAdmin(ReadOnlyAdmin):
    list_display = [
        "submission",
        "number",
        "status",
        "outcome",
        "score",
        "deliveries",
        "worker",
        "finished_at",
    ]
    list_filter = ["status", "outcome"]


admin.site.register(Extension)
admin.site.register(LabDataFile, ReadOnlyAdmin)
admin.site.register(ManualGrade, ReadOnlyAdmin)


@admin.register(VersionCheck)
class VersionCheckAdmin(ReadOnlyAdmin):
    list_display = [
        "version",
        "status",
        "passed",
        "requested_by",
        "requested_at",
        "finished_at",
        "job_id",
        "node",
    ]
    list_filter = ["status", "passed"]
    list_select_related = ["version__lab", "requested_by"]


@admin.register(GradingJob)
class GradingJobAdmin(ReadOnlyAdmin):
    """Grading jobs on the cluster: one row per Slurm job (a retry is a new row)."""

    list_display = [
        "name",
        "job_id",
        "state",
        "slurm_state",
        "node",
        "exit_code",
        "gpu_seconds",
        "submitted_at",
    ]
    list_filter = ["state", "partition"]
    search_fields = ["name", "job_id", "node"]
    raw_id_fields = ["submission", "run"]


@admin.register(GradingTicket)
class GradingTicketAdmin(ReadOnlyAdmin):
    """The grading queue: one row per grading asked for (a new submission, a regrade), with
    who claimed it and when; states show what was superseded or cancelled."""

    list_display = [
        "submission",
        "lab",
        "kind",
        "state",
        "number",
        "queued_at",
        "claimed_at",
        "finished_at",
        "claims",
        "worker",
    ]
    list_filter = ["state", "kind", "on_cluster"]
    list_select_related = ["submission__lab", "lab"]
    search_fields = ["submission__student__username", "lab__title", "worker"]
    raw_id_fields = ["submission", "lab", "run", "regrade"]


@admin.register(LabRegrade)
class LabRegradeAdmin(ReadOnlyAdmin):
    list_display = ["lab", "state", "total", "requested_by", "created_at", "finished_at"]
    list_filter = ["state"]
    list_select_related = ["lab", "requested_by"]
    raw_id_fields = ["lab", "requested_by", "cancelled_by"]
