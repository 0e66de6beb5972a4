"""The admin of credentials, for operators: everything read, nothing written here.  A signed
credential never changes (its proof covers every byte); revoking, suspending and reinstating
need a reason and re-sign the status list, so they are done on the staff page that the
credential's row links to (``services`` write the audit rows)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .models import Credential, IssuanceJob, StatusList


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewed, never written here: these rows change through the services only."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _pretty(document: Any) -> str:
    return format_html(
        '<pre class="readonly">{}</pre>', json.dumps(document, indent=2, ensure_ascii=False)
    )


class StateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("valid", _("Valid")), ("suspended", _("Suspended")), ("revoked", _("Revoked"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if value == "suspended":
            return queryset.filter(revoked_at__isnull=True, suspended_at__isnull=False)
        if value == "valid":
            return queryset.filter(revoked_at__isnull=True, suspended_at__isnull=True)
        return queryset


@admin.register(Credential)
class CredentialAdmin(ReadOnlyAdmin):
    list_display = ["title", "user", "kind", "institution", "issued_at", "state", "manage"]
    list_filter = [StateFilter, "kind", "institution", "issued_at"]
    search_fields = ["uuid", "title", "user__username", "user__email", "user__last_name"]
    list_select_related = ["user", "institution"]
    date_hierarchy = "issued_at"
    readonly_fields = [
        "uuid",
        "manage",
        "user",
        "kind",
        "title",
        "title_sr",
        "run",
        "programme",
        "completion",
        "institution",
        "issued_at",
        "valid_until",
        "issued_by",
        "job",
        "key_id",
        "status_list",
        "status_index",
        "revoked_at",
        "revoked_by",
        "revocation_reason",
        "suspended_at",
        "suspended_by",
        "suspension_reason",
        "signed_document",
    ]
    fields = tuple(readonly_fields)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Credential]:
        return super().get_queryset(request).defer("document")

    @admin.display(description=_("state"))
    def state(self, obj: Credential) -> str:
        return obj.state

    @admin.display(description=_("revoke or suspend"))
    def manage(self, obj: Credential) -> str:
        url = reverse("credential-manage-detail", args=[obj.uuid])
        return format_html('<a href="{}">{}</a>', url, _("Staff page"))

    @admin.display(description=_("signed credential"))
    def signed_document(self, obj: Credential) -> str:
        return _pretty(Credential.objects.values_list("document", flat=True).get(pk=obj.pk))


@admin.register(StatusList)
class StatusListAdmin(ReadOnlyAdmin):
    list_display = ["number", "purpose", "updated_at"]
    list_filter = ["purpose"]
    readonly_fields = ["number", "purpose", "updated_at", "signed_document"]
    fields = tuple(readonly_fields)

    @admin.display(description=_("signed status list"))
    def signed_document(self, obj: StatusList) -> str:
        return _pretty(obj.document)


@admin.register(IssuanceJob)
class IssuanceJobAdmin(ReadOnlyAdmin):
    list_display = [
        "pk",
        "kind",
        "run",
        "programme",
        "status",
        "processed",
        "total",
        "issued",
        "skipped",
        "ineligible",
        "created_at",
    ]
    list_filter = ["status", "kind"]
    list_select_related = ["run__course", "programme"]
    readonly_fields = [
        "kind",
        "run",
        "programme",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
        "status",
        "total",
        "processed",
        "issued",
        "skipped",
        "ineligible",
        "error",
    ]
    fields = tuple(readonly_fields)
