"""Pages of the lab side: manual grading of the cells that need a person."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from academy.typing import AuthedRequest

from .. import selectors, services
from ..forms import ManualGradeForm
from ..grading import parse
from .labs import _cells


@login_required
@require_http_methods(["GET", "POST"])
def lab_grading(request: AuthedRequest, pk: int) -> HttpResponse:
    """The manual grading queue: one answer at a time, with the notebook around it."""
    lab = selectors.lab_for_teacher(request.user, pk)
    queue = selectors.manual_queue(lab)
    try:
        index = max(0, min(int(request.GET.get("i", 0)), len(queue) - 1))
    except ValueError:
        index = 0
    if not queue:
        return render(request, "notebooks/grading_done.html", {"lab": lab})
    sub, grade_id = queue[index]
    cell = sub.latest_run.cells[grade_id]  # type: ignore[union-attr]
    form = ManualGradeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.manual_grade_save(
                actor=request.user,
                submission=sub,
                grade_id=grade_id,
                score=form.cleaned_data["score"],
                comment=form.cleaned_data["comment"],
            )
        except ValidationError as exc:
            for msg in exc.messages:
                form.add_error("score", msg)
        else:
            messages.success(request, _("Saved."))
            # The saved item leaves the queue, so the same index is the next one.
            return redirect(
                f"{request.path}?i={min(index, len(queue) - 2) if len(queue) > 1 else 0}"
            )
    with sub.file.open("rb") as fh:
        try:
            cells = _cells(parse(fh.read()))
        except Exception:  # noqa: BLE001 - the context is a courtesy; grading goes on
            cells = []
    return render(
        request,
        "notebooks/grading.html",
        {
            "lab": lab,
            "sub": sub,
            "grade_id": grade_id,
            "cell": cell,
            "form": form,
            "cells": cells,
            "index": index,
            "total": len(queue),
            "student_label": (_("Submission %(n)d") % {"n": sub.pk})
            if lab.anonymous_grading
            else (sub.student.get_full_name() or sub.student.username),
        },
        status=400 if form.errors else 200,
    )
