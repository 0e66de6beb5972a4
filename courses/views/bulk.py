"""Pages of the course side: bulk enrolment from a CSV (upload, preview, apply)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from academy import selectors as people
from academy.models import Institution
from academy.typing import AuthedRequest

from .. import bulk, selectors
from ..models import (
    BulkUpload,
)
from ._common import _errors


def _admin_institution(request: AuthedRequest, slug: str) -> Institution:
    institution = get_object_or_404(people.institutions_for(request.user), slug=slug)
    if not people.can_manage_institution(request.user, institution):
        raise Http404
    return institution


@login_required
def bulk_enrol(request: AuthedRequest, slug: str) -> HttpResponse:
    institution = _admin_institution(request, slug)
    runs = selectors.bulk_fill_runs(institution)
    error = ""
    if request.method == "POST":
        run = runs.filter(pk=request.POST.get("run") or 0).first()
        file = request.FILES.get("file")
        if run is None:
            error = _("Choose a run.")
        elif file is None:
            error = _("Choose a CSV file.")
        else:
            try:
                upload = bulk.bulk_upload_store(
                    actor=request.user,
                    institution=institution,
                    run=run,
                    file=file,
                    size=file.size,
                    filename=file.name or "",
                )
            except ValidationError as exc:
                error = _errors(exc)
            else:
                return redirect("bulk-enrol-preview", slug=institution.slug, pk=upload.pk)
    return render(
        request,
        "courses/bulk_enrol.html",
        {
            "institution": institution,
            "runs": runs,
            "error": error,
            "selected_run": request.POST.get("run", ""),
            "max_mb": bulk._max_bytes() // (1024 * 1024),
        },
        status=400 if error else 200,
    )


@login_required
def bulk_enrol_preview(request: AuthedRequest, slug: str, pk: int) -> HttpResponse:
    institution = _admin_institution(request, slug)
    upload = get_object_or_404(
        institution_uploads(institution).select_related("run__course"), pk=pk
    )
    if request.method == "POST":
        counts = bulk.bulk_apply(upload=upload, actor=request.user)
        changed = sum(n for k, n in counts.items() if k in bulk.CHANGES)
        messages.success(
            request, _("Applied: %(n)s change(s); lines with errors were skipped.") % {"n": changed}
        )
        return redirect(reverse("bulk-enrol-preview", args=[institution.slug, upload.pk]))
    lines = bulk.bulk_preview(upload=upload, actor=request.user)
    summary: dict[str, int] = {}
    for line in lines:
        summary[line.label] = summary.get(line.label, 0) + 1
    return render(
        request,
        "courses/bulk_preview.html",
        {
            "institution": institution,
            "upload": upload,
            "lines": lines,
            "summary": summary,
            "n_errors": sum(line.is_error for line in lines),
            "n_changes": sum(line.changes for line in lines),
            "overrides": bulk.bulk_overrides(upload.run),
        },
    )


def institution_uploads(institution: Institution):  # type: ignore[no-untyped-def]
    return BulkUpload.objects.filter(institution=institution)
