"""Pages of the lab side: labs (list, authoring, versions, release, a student's lab page)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from academy.files import serve_user_file
from academy.typing import AuthedRequest
from courses.selectors import can_author_run, can_teach_run
from courses.signals import learning_event

from .. import selectors, services
from ..forms import LabForm, NotebookUploadForm
from ..grading import parse
from ..models import Lab, LabRegrade, LabVersion


@login_required
def lab_list(request: AuthedRequest) -> HttpResponse:
    labs = selectors.labs_for(request.user).order_by("run__starts_at", "due_at")
    managed = [lab for lab in labs if can_teach_run(request.user, lab.run_id)]
    learning = [lab for lab in labs if lab not in managed]
    runs = list(selectors.runs_for_staff(request.user))
    return render(
        request,
        "notebooks/lab_list.html",
        {
            "managed": managed,
            "learning": learning,
            "runs": runs,
            # "New lab" only where the user may create one (not a TA without editing)
            "authored": {run.pk for run in runs if can_author_run(request.user, run.pk)},
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def lab_edit(
    request: AuthedRequest, run_id: int | None = None, pk: int | None = None
) -> HttpResponse:
    if pk is not None:
        lab: Lab | None = selectors.lab_for_author(request.user, pk)
        run = lab.run  # type: ignore[union-attr]
    else:
        lab = None
        run = get_object_or_404(selectors.runs_for_staff(request.user), pk=run_id)
        if not can_author_run(request.user, run.pk):
            raise Http404
    form = LabForm(request.POST or None, instance=lab, run=run)
    if request.method == "POST" and form.is_valid():
        fields = {k: form.cleaned_data[k] for k in form.Meta.fields}
        try:
            if lab is None:
                lab = services.lab_create(actor=request.user, run=run, **fields)
            else:
                lab = services.lab_update(actor=request.user, lab=lab, **fields)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Lab saved."))
            return redirect("lab-detail", pk=lab.pk)
    return render(request, "notebooks/lab_form.html", {"form": form, "lab": lab, "run": run})


@login_required
def lab_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    lab = selectors.lab_for(request.user, pk)
    if can_teach_run(request.user, lab.run_id):
        return _lab_staff(request, lab, upload_form=NotebookUploadForm())
    learning_event.send(
        sender=Lab, user=request.user, kind="lab_opened", run=lab.run, object_id=lab.pk
    )
    return _lab_student(request, lab, NotebookUploadForm())


def _lab_staff(
    request: AuthedRequest,
    lab: Lab,
    *,
    upload_form: NotebookUploadForm,
    cell_errors: list | None = None,
    status: int = 200,
) -> HttpResponse:
    subs = selectors.with_queue_places(
        lab.submissions.select_related("student").order_by("student__username", "-attempt")
    )
    counts: dict[str, int] = {}
    for s in subs:
        label = s.get_status_display()
        counts[label] = counts.get(label, 0) + 1
    return render(
        request,
        "notebooks/lab_staff.html",
        {
            "lab": lab,
            "upload_form": upload_form,
            "cell_errors": cell_errors,
            "versions": lab.versions.select_related("created_by"),
            "submissions": subs,
            "counts": counts,
            "can_author": can_author_run(request.user, lab.run_id),
            "queue_size": len(selectors.manual_queue(lab)),
            "regrade": _regrade_progress(lab),
        },
        status=status,
    )


def _regrade_progress(lab: Lab) -> selectors.RegradeProgress | None:
    regrade = selectors.latest_regrade(lab)
    return selectors.regrade_progress(regrade) if regrade else None


def _lab_student(
    request: AuthedRequest,
    lab: Lab,
    form: NotebookUploadForm,
    cell_errors: list | None = None,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "notebooks/lab_student.html",
        {
            "lab": lab,
            "form": form,
            "cell_errors": cell_errors,
            "submissions": selectors.with_queue_places(
                selectors.own_submissions(request.user, lab)
            ),
            "extension": lab.extensions.filter(student=request.user).first(),
        },
        status=status,
    )


@login_required
@require_POST
def lab_version_upload(request: AuthedRequest, pk: int) -> HttpResponse:
    lab = selectors.lab_for_author(request.user, pk)
    form = NotebookUploadForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            version = services.lab_version_upload(
                actor=request.user, lab=lab, content=form.cleaned_data["file"].read()
            )
        except services.NotebookRejected as exc:
            return _lab_staff(
                request, lab, upload_form=form, cell_errors=exc.cell_errors, status=400
            )
        messages.success(request, _("Version %(n)d uploaded.") % {"n": version.number})
        return redirect("lab-detail", pk=lab.pk)
    return _lab_staff(request, lab, upload_form=form, status=400)


def _version(request: AuthedRequest, pk: int, number: int) -> LabVersion:
    """A version to read: any staff of the run (a TA grading needs the source)."""
    lab = selectors.lab_for_teacher(request.user, pk)
    return get_object_or_404(LabVersion, lab=lab, number=number)


@login_required
def lab_version_preview(request: AuthedRequest, pk: int, number: int) -> HttpResponse:
    version = _version(request, pk, number)
    with version.student.open("rb") as fh:
        nb = parse(fh.read())
    return render(
        request,
        "notebooks/version_preview.html",
        {
            "lab": version.lab,
            "version": version,
            "cells": _cells(nb),
        },
    )


def _cells(nb) -> list[dict]:  # type: ignore[no-untyped-def]
    out = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader") or {}
        src = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        out.append(
            {
                "type": cell.cell_type,
                "source": src,
                "grade_id": meta.get("grade_id", ""),
                "points": meta.get("points"),
                "locked": meta.get("locked", False),
            }
        )
    return out


@login_required
def lab_version_download(request: AuthedRequest, pk: int, number: int, kind: str) -> FileResponse:
    version = _version(request, pk, number)
    field = version.source if kind == "source" else version.student
    return serve_user_file(field, filename=f"lab{pk}-v{number}-{kind}.ipynb", inline=False)


@login_required
@require_POST
def lab_release(request: AuthedRequest, pk: int) -> HttpResponse:
    lab = selectors.lab_for_author(request.user, pk)
    number = request.POST.get("version")
    version = lab.versions.filter(number=number).first() if number else None
    try:
        services.lab_release(
            actor=request.user,
            lab=lab,
            version=version,
            override_reason=request.POST.get("override_reason", ""),
        )
    except services.ReleaseBlocked as exc:
        messages.error(request, " ".join(exc.messages))
        blocked = version or lab.versions.order_by("-number").first()
        assert blocked is not None  # ReleaseBlocked is raised for a version
        return redirect("lab-version-detail", pk=lab.pk, number=blocked.number)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Released to students."))
    return redirect("lab-detail", pk=lab.pk)


@login_required
def lab_download(request: AuthedRequest, pk: int) -> FileResponse:
    lab = selectors.lab_for(request.user, pk)
    if lab.released_version is None:
        raise Http404
    return serve_user_file(
        lab.released_version.student, filename=f"{_filename(lab.title)}.ipynb", inline=False
    )


def _filename(title: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in title).strip("-") or "lab"


@login_required
@require_POST
def lab_submit(request: AuthedRequest, pk: int) -> HttpResponse:
    lab = selectors.lab_for(request.user, pk)
    form = NotebookUploadForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.submission_create(
                actor=request.user, lab=lab, content=form.cleaned_data["file"].read()
            )
        except services.NotebookRejected as exc:
            return _lab_student(request, lab, form, cell_errors=exc.cell_errors, status=400)
        except services.SubmissionRateLimited as exc:
            form.add_error("file", exc.messages)
            response = _lab_student(request, lab, form, status=429)
            response["Retry-After"] = str(exc.retry_after)
            return response
        except ValidationError as exc:
            form.add_error("file", exc.messages)
        except PermissionDenied:
            raise Http404 from None
        else:
            messages.success(request, _("Submitted. Grading has started."))
            return redirect("lab-detail", pk=lab.pk)
    return _lab_student(request, lab, form, status=400)


@login_required
@require_POST
def lab_regrade(request: AuthedRequest, pk: int) -> HttpResponse:
    lab = selectors.lab_for_author(request.user, pk)
    try:
        regrade = services.lab_regrade(actor=request.user, lab=lab)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _("%(n)d submissions queued for regrading; they keep their score until regraded.")
            % {"n": regrade.total},
        )
    return redirect("lab-detail", pk=lab.pk)


def _regrade(request: AuthedRequest, pk: int, regrade_id: int) -> LabRegrade:
    try:
        return selectors.regrade_for_author(request.user, pk, regrade_id)
    except LabRegrade.DoesNotExist:
        raise Http404 from None


@login_required
def lab_regrade_progress(request: AuthedRequest, pk: int, regrade_id: int) -> HttpResponse:
    """The htmx fragment polled every 2 s while the regrade runs (then it stops polling)."""
    regrade = _regrade(request, pk, regrade_id)
    return render(
        request,
        "notebooks/_regrade_progress.html",
        {"lab": regrade.lab, "regrade": selectors.regrade_progress(regrade), "can_author": True},
    )


@login_required
@require_POST
def lab_regrade_cancel(request: AuthedRequest, pk: int, regrade_id: int) -> HttpResponse:
    regrade = _regrade(request, pk, regrade_id)
    dropped = services.lab_regrade_cancel(actor=request.user, regrade=regrade)
    if request.headers.get("HX-Request"):
        return lab_regrade_progress(request, pk, regrade_id)
    messages.success(
        request,
        _("Regrade cancelled: %(n)d submissions keep their earlier score.") % {"n": dropped},
    )
    return redirect("lab-detail", pk=pk)


@login_required
@require_POST
def lab_feedback_release(request: AuthedRequest, pk: int) -> HttpResponse:
    lab = selectors.lab_for_author(request.user, pk)
    services.lab_feedback_release(actor=request.user, lab=lab)
    messages.success(request, _("Feedback released to students."))
    return redirect("lab-detail", pk=lab.pk)
