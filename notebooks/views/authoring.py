"""Pages of lab authoring: a version (what changed, "Test this version", release with an
override), and the lab library (copy a lab into another run)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from academy.typing import AuthedRequest
from courses.selectors import can_author_run

from .. import grading, selectors, services
from ..models import Lab, LabVersion, VersionCheck


def _version_for_author(request: AuthedRequest, pk: int, number: int) -> LabVersion:
    lab = selectors.lab_for_author(request.user, pk)
    return get_object_or_404(
        LabVersion.objects.select_related("lab__run", "lab__grading_profile"),
        lab=lab,
        number=number,
    )


def _check_rows(check: VersionCheck | None) -> list[dict]:
    """One row per graded cell: the solution's score and the student version's, side by side."""
    if check is None:
        return []
    solution = (check.solution or {}).get("cells") or {}
    student = (check.student or {}).get("cells") or {}
    order = sorted(
        set(solution) | set(student),
        key=lambda gid: (solution.get(gid) or student.get(gid) or {}).get("order", 0),
    )
    rows = []
    for gid in order:
        a, b = solution.get(gid) or {}, student.get(gid) or {}
        max_score = a.get("max_score", b.get("max_score", 0))
        full = a.get("score") is not None and float(a["score"]) >= float(max_score or 0)
        rows.append(
            {
                "grade_id": gid,
                "kind": a.get("kind") or b.get("kind", ""),
                "max_score": max_score,
                "solution": a.get("score"),
                "solution_full": full,
                "solution_error": a.get("error", ""),
                "student": b.get("score"),
                "student_error": b.get("error", ""),
            }
        )
    return rows


def _check_context(version: LabVersion) -> dict:
    check = version.checks.order_by("-requested_at", "-id").first()
    return {
        "version": version,
        "lab": version.lab,
        "check": check,
        "check_rows": _check_rows(check),
        "problems": [grading.check_message(p) for p in (check.problems if check else [])],
        "check_warnings": [grading.check_message(w) for w in (check.warnings if check else [])],
        "poll": check is not None and not check.is_final,
        "blocked": services.release_block_reason(version),
    }


@login_required
@require_GET
def version_detail(request: AuthedRequest, pk: int, number: int) -> HttpResponse:
    version = _version_for_author(request, pk, number)
    previous = version.lab.versions.filter(number__lt=number).order_by("-number").first()
    with version.source.open("rb") as fh:
        source = fh.read()
    old = None
    if previous is not None:
        with previous.source.open("rb") as fh:
            old = fh.read()
    changes = grading.notebook_diff(old, source)
    return render(
        request,
        "notebooks/version_detail.html",
        {
            **_check_context(version),
            "previous": previous,
            "diff": changes,
        },
    )


@login_required
@require_GET
def version_check_card(request: AuthedRequest, pk: int, number: int) -> HttpResponse:
    version = _version_for_author(request, pk, number)
    return render(request, "notebooks/_version_check.html", _check_context(version))


@login_required
@require_POST
def version_check(request: AuthedRequest, pk: int, number: int) -> HttpResponse:
    version = _version_for_author(request, pk, number)
    services.version_check_request(actor=request.user, version=version)
    messages.success(request, _("Testing version %(n)d.") % {"n": version.number})
    return redirect("lab-version-detail", pk=pk, number=number)


@login_required
@require_GET
def library(request: AuthedRequest) -> HttpResponse:
    """The lab library of the user's institution(s); only for people who author a run (the
    copy goes into one of their runs)."""
    runs = [r for r in selectors.runs_for_staff(request.user) if can_author_run(request.user, r)]
    if not runs:
        raise PermissionDenied
    labs = selectors.library_labs(request.user).order_by("run__course__code", "title", "pk")
    return render(request, "notebooks/library.html", {"labs": labs, "runs": runs})


@login_required
@require_POST
def lab_copy(request: AuthedRequest, pk: int) -> HttpResponse:
    try:
        lab = selectors.library_lab(request.user, pk)
    except Lab.DoesNotExist:
        raise Http404 from None
    run = selectors.runs_for_staff(request.user).filter(pk=request.POST.get("run") or 0).first()
    if run is None or not can_author_run(request.user, run):
        raise Http404
    try:
        copy = services.lab_copy(actor=request.user, lab=lab, run=run)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("lab-library")
    messages.success(
        request, _("Copied “%(title)s” into %(run)s.") % {"title": lab.title, "run": run}
    )
    return redirect("lab-detail", pk=copy.pk)
