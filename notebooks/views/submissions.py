"""Pages of the lab side: submissions."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from academy.files import serve_user_file
from academy.typing import AuthedRequest
from courses.selectors import can_author_run

from .. import selectors, services


@login_required
def submission_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    sub = selectors.with_queue_places([selectors.submission_for(request.user, pk)])[0]
    visible = selectors.feedback_visible(sub, request.user)
    return render(
        request,
        "notebooks/submission_detail.html",
        {
            "sub": sub,
            "lab": sub.lab,
            "feedback_visible": visible,
            "cells": selectors.feedback(sub, request.user) if visible else [],
            "runs": sub.runs.select_related("lab_version")
            if sub.student_id != request.user.pk
            else [],
            "can_author": can_author_run(request.user, sub.lab.run_id),
            # Grading jobs on the cluster (Slurm job id, node, state): the run's staff only.
            "jobs": sub.jobs.all() if sub.student_id != request.user.pk else [],
        },
    )


@login_required
def submission_status(request: AuthedRequest, pk: int) -> HttpResponse:
    """The htmx fragment polled every 2 s until the status is final (then it stops polling)."""
    sub = selectors.with_queue_places([selectors.submission_for(request.user, pk)])[0]
    return render(request, "notebooks/_submission_status.html", {"sub": sub})


@login_required
def submission_download(request: AuthedRequest, pk: int) -> FileResponse:
    sub = selectors.submission_for(request.user, pk)
    return serve_user_file(sub.file, filename=f"submission-{sub.pk}.ipynb", inline=False)


@login_required
@require_POST
def submission_regrade(request: AuthedRequest, pk: int) -> HttpResponse:
    sub = selectors.submission_for(request.user, pk)
    if not can_author_run(request.user, sub.lab.run_id):
        raise Http404
    services.submission_regrade(actor=request.user, submission=sub)
    messages.success(request, _("Queued for regrading."))
    return redirect("submission-detail", pk=sub.pk)
