from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import AuditEvent, Cohort, Institution, Invitation, Membership, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "email", "first_name", "last_name", "is_staff", "is_active"]
    search_fields = ["username", "email", "first_name", "last_name"]


class MembershipInline(admin.TabularInline):
    model = Membership
    raw_id_fields = ["user"]
    extra = 0


@admin.register(Institution)
class InstitutionAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "slug"]
    list_filter = ["kind"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Cohort)
class CohortAdmin(admin.ModelAdmin):
    list_display = ["name", "institution", "programme", "intake_year"]
    list_filter = ["institution", "intake_year"]
    search_fields = ["name", "programme"]
    raw_id_fields = ["members"]
    list_select_related = ["institution"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "institution", "role"]
    list_filter = ["role", "institution"]
    raw_id_fields = ["user"]
    list_select_related = ["user", "institution"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "institution", "role", "created_at", "accepted_at"]
    list_filter = ["institution", "role"]
    raw_id_fields = ["invited_by", "user", "cohort"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit log is append-only."""

    list_display = [
        "created_at",
        "actor_repr",
        "action",
        "target_repr",
        "institution",
        "ip_address",
    ]
    list_filter = ["action", "institution"]
    search_fields = ["actor_repr", "target_repr", "action"]
    list_select_related = ["institution"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
