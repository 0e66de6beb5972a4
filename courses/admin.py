from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from . import services
from .models import (
    Attachment,
    Course,
    CourseRun,
    CourseStaff,
    Enrolment,
    GradingCategory,
    InviteCode,
    Lesson,
    Module,
)


class CourseAdminForm(forms.ModelForm):
    """The course's fields as the admin lists them; prerequisites checked as the service does."""

    def clean(self) -> dict:
        cleaned = super().clean() or {}
        try:
            services.check_prerequisites(
                self.instance,
                list(cleaned.get("prerequisites") or []),
                list(cleaned.get("recommended") or []),
            )
        except ValidationError as exc:
            self.add_error(None, exc)
        return cleaned


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    form = CourseAdminForm
    list_display = ["code", "title", "language", "level", "is_published"]
    list_filter = ["is_published", "level", "language"]
    search_fields = ["code", "title"]
    filter_horizontal = ["prerequisites", "recommended"]


class StaffInline(admin.TabularInline):
    model = CourseStaff
    raw_id_fields = ["user"]
    extra = 0


class CategoryInline(admin.TabularInline):
    model = GradingCategory
    extra = 0


@admin.register(CourseRun)
class CourseRunAdmin(admin.ModelAdmin):
    list_display = ["course", "title", "starts_at", "capacity", "active_count", "policy"]
    list_filter = ["policy", "is_public"]
    raw_id_fields = ["course"]
    readonly_fields = ["active_count", "waitlist_seq"]
    filter_horizontal = ["allowed_institutions", "allowed_cohorts"]
    inlines = [StaffInline, CategoryInline]


class LessonInline(admin.StackedInline):
    model = Lesson
    extra = 0


@admin.register(Module)
class ModuleAdmin(admin.ModelAdmin):
    list_display = ["title", "run", "position"]
    raw_id_fields = ["run"]
    inlines = [LessonInline]


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    list_display = ["name", "lesson", "size", "uploaded_at"]
    raw_id_fields = ["lesson"]


@admin.register(InviteCode)
class InviteCodeAdmin(admin.ModelAdmin):
    list_display = ["code", "run", "expires_at", "uses", "max_uses", "is_active"]
    raw_id_fields = ["run"]


@admin.register(Enrolment)
class EnrolmentAdmin(admin.ModelAdmin):
    # Read-only: enrolment changes go through the services (capacity and audit).
    list_display = ["run", "user", "state", "waitlist_position", "requested_at"]
    list_filter = ["state"]
    raw_id_fields = ["run", "user", "cohort"]

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False
