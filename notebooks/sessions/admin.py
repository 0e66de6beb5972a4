from django.contrib import admin

from .models import CohortGpuBudget, GpuUsage, LabSession, StrayServer


@admin.register(LabSession)
class LabSessionAdmin(admin.ModelAdmin):
    list_display = [
        "user",
        "lab",
        "kind",
        "state",
        "partition",
        "gpus",
        "slurm_job_id",
        "node",
        "requested_at",
        "ended_reason",
    ]
    list_filter = ["kind", "state", "partition", "ended_reason"]
    search_fields = ["user__username", "slurm_job_id", "lab__title"]
    list_select_related = ["user", "lab"]
    raw_id_fields = ["user", "lab", "run", "cohort", "base_version"]
    readonly_fields = [f.name for f in LabSession._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False


@admin.register(CohortGpuBudget)
class CohortGpuBudgetAdmin(admin.ModelAdmin):
    list_display = ["run", "cohort", "gpu_hours"]
    list_select_related = ["run__course", "cohort"]
    raw_id_fields = ["run", "cohort"]


@admin.register(GpuUsage)
class GpuUsageAdmin(admin.ModelAdmin):
    """Written by the accounting sync from sacct; read-only here."""

    list_display = [
        "job_id",
        "user",
        "run",
        "cohort",
        "partition",
        "gpus",
        "gpu_seconds",
        "state",
        "started_at",
    ]
    list_filter = ["partition", "state", "finished"]
    search_fields = ["job_id", "user__username"]
    list_select_related = ["user", "run__course", "cohort"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(StrayServer)
class StrayServerAdmin(admin.ModelAdmin):
    """Servers the sweep found on the hub outside Academy's sessions and stopped; read-only."""

    list_display = [
        "hub_user",
        "server_name",
        "job_id",
        "gpus",
        "gpu_seconds",
        "found_at",
        "stopped_at",
        "stop_error",
    ]
    list_filter = ["finished"]
    search_fields = ["hub_user", "job_id"]
    list_select_related = ["user"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
