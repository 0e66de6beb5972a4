from django.contrib import admin

from .models import Allocation, Completion, Programme, ProgrammeVersion, Requirement


class VersionInline(admin.TabularInline):
    model = ProgrammeVersion
    extra = 0
    readonly_fields = ["number", "published_at", "created_at"]


@admin.register(Programme)
class ProgrammeAdmin(admin.ModelAdmin):
    list_display = ["code", "title", "owner", "eqf_level", "ects", "status"]
    list_filter = ["status", "eqf_level"]
    search_fields = ["code", "title", "title_sr"]
    filter_horizontal = ["managers"]
    inlines = [VersionInline]


@admin.register(Requirement)
class RequirementAdmin(admin.ModelAdmin):
    list_display = ["__str__", "version", "parent", "rule", "count", "points", "min_grade"]
    list_filter = ["rule"]
    raw_id_fields = ["version", "parent", "course"]


@admin.register(Allocation)
class AllocationAdmin(admin.ModelAdmin):
    list_display = [
        "user",
        "programme",
        "version",
        "state",
        "source",
        "items_done",
        "credits_earned",
    ]
    list_filter = ["state", "source", "programme"]
    search_fields = ["user__username", "user__email"]
    raw_id_fields = ["user", "cohort", "version"]
    readonly_fields = ["progress", "items_done", "items_total", "credits_earned", "computed_at"]


@admin.register(Completion)
class CompletionAdmin(admin.ModelAdmin):
    list_display = ["allocation", "version", "credits", "completed_at", "needs_review"]
    list_filter = ["needs_review"]
    readonly_fields = ["allocation", "version", "evidence", "credits", "completed_at"]
