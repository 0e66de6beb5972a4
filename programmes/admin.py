"""The admin of programmes, for operators.  Programmes, versions and their trees are built,
published and retired through the pages and the API (their services make version 1 and its
root, refuse frozen versions and cycles, and write the audit rows); here a programme's
description and managers can be changed (through the services too), a flagged completion's
review cleared, and everything else read."""

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from academy.audit import audit

from . import services
from .models import (
    Allocation,
    Completion,
    EscoSkill,
    LearningOutcome,
    OutcomeAlignment,
    Programme,
    ProgrammeCohort,
    ProgrammeVersion,
    Requirement,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewed, never written here: these rows change through the services only."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class VersionInline(admin.TabularInline):
    model = ProgrammeVersion
    extra = 0
    fields = ["number", "published_at", "created_at"]
    readonly_fields = ["number", "published_at", "created_at"]
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a new version copies the newest tree: services.version_new

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Programme)
class ProgrammeAdmin(admin.ModelAdmin):
    list_display = ["code", "title", "owner", "eqf_level", "ects", "status"]
    list_filter = ["status", "eqf_level"]
    search_fields = ["code", "title", "title_sr"]
    filter_horizontal = ["managers"]
    readonly_fields = ["code", "status", "created_at"]
    inlines = [VersionInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # services.programme_create also makes version 1 and its root set

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # retired, not deleted: people's progress and completions refer to it

    def save_model(self, request: HttpRequest, obj: Programme, form: Any, change: bool) -> None:
        # Through the service (rights, validation, audit row), from the stored row: the form
        # has already put its values on ``obj``.
        stored = Programme.objects.get(pk=obj.pk)
        changes = {
            name: form.cleaned_data[name]
            for name in form.changed_data
            if name in services.PROGRAMME_FIELDS
        }
        services.programme_update(actor=request.user, programme=stored, **changes)  # type: ignore[arg-type]

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # The managers are the only many-to-many field; the versions inline is read-only (its
        # formset saves nothing, but the admin's change message reads what it saved).
        if "managers" in form.changed_data:
            services.programme_managers_set(
                actor=request.user,  # type: ignore[arg-type]
                programme=form.instance,
                managers=list(form.cleaned_data["managers"]),
            )
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)


class RequirementInline(admin.TabularInline):
    """The tree, read-only: it is built on the programme's pages or through the API, whose
    services refuse frozen versions and prerequisite cycles."""

    model = Requirement
    extra = 0
    fields = ["parent", "position", "title", "rule", "count", "course", "points", "min_grade"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Requirement]:
        return super().get_queryset(request).select_related("course", "parent__course")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ProgrammeVersion)
class ProgrammeVersionAdmin(ReadOnlyAdmin):
    """A version and its tree; ``followers``: people following it (frozen when any)."""

    list_display = ["__str__", "programme", "number", "published_at", "followers"]
    list_filter = ["programme"]
    readonly_fields = ["programme", "number", "published_at", "created_at"]
    inlines = [RequirementInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ProgrammeVersion]:
        return (
            super()
            .get_queryset(request)
            .select_related("programme")
            .annotate(follower_count=Count("allocations"))
        )

    @admin.display(description=_("followers"), ordering="follower_count")
    def followers(self, version: ProgrammeVersion) -> int:
        return version.follower_count  # type: ignore[attr-defined]


@admin.register(Requirement)
class RequirementAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "version", "parent", "rule", "count", "points", "min_grade"]
    list_filter = ["rule"]
    list_select_related = ["version__programme", "parent__course", "course"]
    raw_id_fields = ["version", "parent", "course"]


@admin.register(Allocation)
class AllocationAdmin(ReadOnlyAdmin):
    # Joining, approving and moving people go through the services (audited); the progress
    # is computed from results, never typed in.
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
    list_select_related = ["user", "programme", "version__programme"]
    raw_id_fields = ["user", "cohort", "version"]
    readonly_fields = ["progress", "items_done", "items_total", "credits_earned", "computed_at"]


@admin.register(ProgrammeCohort)
class ProgrammeCohortAdmin(ReadOnlyAdmin):
    # Allocating a cohort allocates its members too: services.cohort_allocate.
    list_display = ["cohort", "programme", "created_at"]
    list_filter = ["programme"]
    list_select_related = ["cohort", "programme"]


@admin.register(Completion)
class CompletionAdmin(admin.ModelAdmin):
    """The evidence is frozen; an operator who has reviewed a flagged record clears the flag."""

    list_display = ["allocation", "version", "credits", "completed_at", "needs_review"]
    list_filter = ["needs_review"]
    list_select_related = ["allocation__user", "allocation__programme", "version__programme"]
    # The reason stays as written: recomputation does not raise the same reason again once a
    # reviewer has cleared it (``services``), so it must not be edited away.
    readonly_fields = [
        "allocation",
        "version",
        "evidence",
        "credits",
        "completed_at",
        "review_reason",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Completion, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if "needs_review" in form.changed_data:
            audit(
                request.user,  # type: ignore[arg-type]
                "programme.review_flag_set" if obj.needs_review else "programme.review_cleared",
                obj.allocation,
                institution=obj.allocation.programme.owner,
                reason=obj.review_reason,
            )


# --- learning outcomes (read here; written through the outcome pages and API, whose services
# check the alignments and write the audit rows; ESCO skills come from ``load_esco_skills``)


@admin.register(EscoSkill)
class EscoSkillAdmin(ReadOnlyAdmin):
    list_display = ["label", "uri"]
    search_fields = ["label", "description", "uri"]


class AlignmentInline(admin.TabularInline):
    model = OutcomeAlignment
    extra = 0
    fields = ["lab", "grade_id", "category"]
    readonly_fields = ["lab", "grade_id", "category"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(LearningOutcome)
class LearningOutcomeAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "programme", "course", "parent", "method", "mastery_percent"]
    list_filter = ["method"]
    list_select_related = ["programme", "course", "parent"]
    search_fields = ["code", "title", "title_sr", "programme__code", "course__code"]
    inlines = [AlignmentInline]
